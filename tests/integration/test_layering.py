#!/usr/bin/python3
"""Module boundaries: a file in src/<module> may include only its own module's headers, those of
the modules its CMake DEPS list (transitively), and no forbidden system or library headers
(core/ does no I/O and never sees Asio, SQL or libisofs)."""
import pathlib
import re
import sys
import unittest

ROOT = pathlib.Path(sys.argv.pop(1) if len(sys.argv) > 1 else '.').resolve()
SRC = ROOT / 'src'
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)

# External headers each module must never include (prefix match).
FORBIDDEN = {
    'base': ['boost/', 'sqlite3.h', 'libpq-fe.h', 'libisofs/', 'nlohmann/'],
    'core': ['boost/', 'sqlite3.h', 'libpq-fe.h', 'libisofs/', 'fstream', 'filesystem',
             'iostream', 'sys/socket.h', 'unistd.h', 'fcntl.h', 'thread'],
    'http': ['sqlite3.h', 'libpq-fe.h', 'libisofs/'],
    'configdrive': ['boost/', 'sqlite3.h', 'libpq-fe.h'],
}


TEST_DEPS = {}


def module_deps():
    deps = {}
    for cm in SRC.glob('*/CMakeLists.txt'):
        text = cm.read_text()
        m = re.search(r'metastack_module\((\w+)(.*?)\)', text, re.S)
        if not m:
            continue
        deps[m.group(1)] = set(re.findall(r'metastack::(\w+)', m.group(2).split('DEPS', 1)[-1]))
        # Tests beside the code may also use what their metastack_test() links.
        TEST_DEPS[m.group(1)] = set()
        for t in re.finditer(r'metastack_test\((\w+)(.*?)\)', text, re.S):
            TEST_DEPS[m.group(1)] |= set(re.findall(r'metastack::(\w+)', t.group(2).split('DEPS', 1)[-1]))
    closed = {}

    def close(mod, seen=()):
        if mod in closed:
            return closed[mod]
        out = set(deps.get(mod, ()))
        for d in list(out):
            if d not in seen:
                out |= close(d, seen + (mod,))
        closed[mod] = out
        return out

    return {mod: close(mod) | {mod} for mod in deps}


class LayeringTest(unittest.TestCase):
    def test_includes_respect_module_deps(self):
        allowed = module_deps()
        self.assertIn('core', allowed)
        modules = set(allowed)
        problems = []
        for mod, ok in allowed.items():
            for f in sorted((SRC / mod).rglob('*')):
                if f.suffix not in ('.h', '.cc'):
                    continue
                allowed_here = set(ok)
                if f.name.endswith('_test.cc') or f.name.startswith('test_'):
                    for d in TEST_DEPS.get(mod, ()):
                        allowed_here |= allowed.get(d, {d})
                for inc in INCLUDE.findall(f.read_text()):
                    top = inc.split('/', 1)[0]
                    if '/' in inc and top in modules and top not in allowed_here:
                        problems.append(f'{f.relative_to(ROOT)} includes {inc}: '
                                        f'{mod} does not depend on {top}')
                    for bad in FORBIDDEN.get(mod, []):
                        if inc.startswith(bad):
                            problems.append(f'{f.relative_to(ROOT)} includes {inc}: '
                                            f'forbidden in {mod}/')
        self.assertEqual(problems, [])

    def test_core_does_not_link_io_libraries(self):
        text = (SRC / 'core' / 'CMakeLists.txt').read_text()
        for lib in ('Boost', 'SQLite', 'PostgreSQL', 'isofs'):
            self.assertNotIn(lib, text)


if __name__ == '__main__':
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""Module boundaries, checked while building (cmake/metastack.cmake runs this before any module
compiles, so a forbidden include fails the build).

A file in src/<module> may include only its own module's headers, those of the modules its
metastack_module() DEPS list (transitively), and, in a *_test.cc, those its metastack_test()
links. Our headers are included with quotes ("net/netns.h"), so that a system header in angle
brackets whose directory shares a module's name (<net/if.h>) is not taken for one. Some modules
may never include certain external headers (core/ does no I/O and never sees Asio, SQL or
libisofs), and core/ never links an I/O library. Some external libraries may be used only by a
module that names them in its own DEPS (EXTERNAL_LIBRARIES: libsystemd's headers need
PkgConfig::SYSTEMD).

Usage: check_layering.py SOURCE_DIR [STAMP]  -- prints every violation and exits 1, or touches
STAMP and exits 0."""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)

# External headers each module must never include (prefix match).
FORBIDDEN = {
    'base': ['boost/', 'sqlite3.h', 'libpq-fe.h', 'libisofs/', 'nlohmann/'],
    'core': ['boost/', 'sqlite3.h', 'libpq-fe.h', 'libisofs/', 'fstream', 'filesystem',
             'iostream', 'sys/socket.h', 'unistd.h', 'fcntl.h', 'thread'],
    'http': ['sqlite3.h', 'libpq-fe.h', 'libisofs/'],
    'configdrive': ['boost/', 'sqlite3.h', 'libpq-fe.h'],
    'guest': ['boost/', 'sqlite3.h', 'libpq-fe.h', 'libisofs/', 'openssl/', 'systemd/'],
}
# Forbidden external headers a module's tests may still include, because what they check is
# the module's own replacement for that library (the guest's RSA encryption, decrypted with
# OpenSSL, which guest_test links through metastack::configdrive).
TESTS_MAY_INCLUDE = {
    'guest': ['openssl/'],
}
# External headers (prefix) a module may include only when its own DEPS list the library.
EXTERNAL_LIBRARIES = {
    'systemd/': 'PkgConfig::SYSTEMD',
}
# Libraries core/ must never link.
CORE_NEVER_LINKS = ('Boost', 'SQLite', 'PostgreSQL', 'isofs')


def _deps_in(text):
    return set(re.findall(r'metastack::(\w+)', text.split('DEPS', 1)[-1]))


def module_graph(src):
    """{module: (allowed modules for its code, extra modules its tests may use)}."""
    deps, test_deps = {}, {}
    for cm in sorted(src.glob('*/CMakeLists.txt')):
        text = cm.read_text()
        m = re.search(r'metastack_module\((\w+)(.*?)\)', text, re.S)
        if not m:
            continue
        deps[m.group(1)] = _deps_in(m.group(2))
        test_deps[m.group(1)] = set()
        for t in re.finditer(r'metastack_test\((\w+)(.*?)\)', text, re.S):
            test_deps[m.group(1)] |= _deps_in(t.group(2).split('PROPERTIES', 1)[0])

    closed = {}

    def close(mod, seen=()):
        if mod not in closed:
            out = set(deps.get(mod, ()))
            for d in list(out):
                if d not in seen:
                    out |= close(d, seen + (mod,))
            closed[mod] = out
        return closed[mod]

    allowed = {mod: close(mod) | {mod} for mod in deps}
    return {mod: (allowed[mod],
                  set().union(*[allowed.get(d, {d}) for d in test_deps[mod]]) if test_deps[mod]
                  else set())
            for mod in deps}


def own_deps_text(src):
    """{module: the text of its metastack_module() DEPS}."""
    out = {}
    for cm in sorted(src.glob('*/CMakeLists.txt')):
        m = re.search(r'metastack_module\((\w+)(.*?)\)', cm.read_text(), re.S)
        if m:
            out[m.group(1)] = m.group(2).split('DEPS', 1)[-1] if 'DEPS' in m.group(2) else ''
    return out


def violations(root):
    root = pathlib.Path(root).resolve()
    src = root / 'src'
    graph = module_graph(src)
    own_deps = own_deps_text(src)
    problems = []
    if 'core' not in graph:
        problems.append('src/core/CMakeLists.txt: no metastack_module(core ...) found')
    for mod, (allowed, for_tests) in sorted(graph.items()):
        for f in sorted((src / mod).rglob('*')):
            if f.suffix not in ('.h', '.cc'):
                continue
            allowed_here = set(allowed)
            is_test = f.name.endswith('_test.cc') or f.name.startswith('test_')
            if is_test:
                allowed_here |= for_tests
            for delimiter, inc in INCLUDE.findall(f.read_text()):
                top = inc.split('/', 1)[0]
                if delimiter == '"' and '/' in inc and top in graph and top not in allowed_here:
                    problems.append(f'{f.relative_to(root)}: includes {inc}, but {mod} does not '
                                    f'depend on {top} (DEPS in src/{mod}/CMakeLists.txt)')
                for prefix, lib in EXTERNAL_LIBRARIES.items():
                    if inc.startswith(prefix) and not re.search(re.escape(lib) + r'\b',
                                                                own_deps.get(mod, '')):
                        problems.append(f'{f.relative_to(root)}: includes {inc}, but {mod} does '
                                        f'not list {lib} (DEPS in src/{mod}/CMakeLists.txt)')
                for bad in FORBIDDEN.get(mod, []):
                    if is_test and bad in TESTS_MAY_INCLUDE.get(mod, []):
                        continue
                    if inc.startswith(bad):
                        problems.append(f'{f.relative_to(root)}: includes {inc}, which is '
                                        f'forbidden in {mod}/ (cmake/check_layering.py)')
    core_cmake = src / 'core' / 'CMakeLists.txt'
    if core_cmake.exists():
        text = core_cmake.read_text()
        for lib in CORE_NEVER_LINKS:
            if lib in text:
                problems.append(f'{core_cmake.relative_to(root)}: core/ must not link {lib}')
    return problems


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    problems = violations(argv[1])
    for p in problems:
        print(f'layering: {p}', file=sys.stderr)
    if problems:
        print(f'layering: {len(problems)} include(s) cross a module boundary; '
              'see docs/architecture.md', file=sys.stderr)
        return 1
    if len(argv) == 3:
        pathlib.Path(argv[2]).touch()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

#!/usr/bin/python3
"""The module-boundary check the build runs (cmake/check_layering.py): the tree as it is passes,
and each kind of forbidden include, made in a copy of the tree, fails it with a message that
names the file, the header and the rule."""
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(sys.argv.pop(1) if len(sys.argv) > 1 else '.').resolve()
CHECK = ROOT / 'cmake' / 'check_layering.py'


def run_check(root):
    stamp = pathlib.Path(root) / 'layering.stamp'
    done = subprocess.run([sys.executable, str(CHECK), str(root), str(stamp)],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stderr, stamp.exists()


class LayeringTest(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix='metastack-layering-'))
        shutil.copytree(ROOT / 'src', self.tmp / 'src')

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def add(self, path, text):
        f = self.tmp / path
        f.write_text(f.read_text() + text)

    def test_the_tree_as_it_is_passes(self):
        code, err, stamped = run_check(self.tmp)
        self.assertEqual((code, err), (0, ''))
        self.assertTrue(stamped)

    def test_a_module_it_does_not_depend_on_fails(self):
        self.add('src/core/ip.cc', '#include "store/store.h"\n')
        code, err, stamped = run_check(self.tmp)
        self.assertEqual(code, 1)
        self.assertFalse(stamped)
        self.assertIn('layering: src/core/ip.cc: includes store/store.h, but core does not '
                      'depend on store (DEPS in src/core/CMakeLists.txt)', err)
        self.assertIn('layering: 1 include(s) cross a module boundary', err)

    def test_a_system_header_named_like_a_module_passes(self):
        # <net/if.h> is libc's, not src/net's: api/ does not depend on net/.
        self.add('src/api/service.cc', '#include <net/if.h>\n')
        self.assertEqual(run_check(self.tmp)[:2], (0, ''))
        self.add('src/api/service.cc', '#include "net/netns.h"\n')
        code, err, _ = run_check(self.tmp)
        self.assertEqual(code, 1)
        self.assertIn('layering: src/api/service.cc: includes net/netns.h, but api does not '
                      'depend on net (DEPS in src/api/CMakeLists.txt)', err)

    def test_a_forbidden_external_header_fails(self):
        self.add('src/core/ip.h', '#include <boost/asio.hpp>\n')
        code, err, _ = run_check(self.tmp)
        self.assertEqual(code, 1)
        self.assertIn('layering: src/core/ip.h: includes boost/asio.hpp, which is forbidden in '
                      'core/', err)

    def test_a_guest_test_may_check_against_openssl(self):
        # guest/ has its own RSA (no OpenSSL in the static binary); its test decrypts with
        # OpenSSL. The module's own code still may not include it.
        self.add('src/guest/password_test.cc', '#include <openssl/rsa.h>\n')
        self.assertEqual(run_check(self.tmp)[:2], (0, ''))
        self.add('src/guest/password.cc', '#include <openssl/rsa.h>\n')
        code, err, _ = run_check(self.tmp)
        self.assertEqual(code, 1)
        self.assertIn('layering: src/guest/password.cc: includes openssl/rsa.h, which is '
                      'forbidden in guest/', err)

    def test_an_external_library_not_in_deps_fails(self):
        # daemon/ lists PkgConfig::SYSTEMD and may include <systemd/...>; agent/ does not.
        self.add('src/daemon/ops.cc', '#include <systemd/sd-daemon.h>\n')
        self.assertEqual(run_check(self.tmp)[:2], (0, ''))
        self.add('src/agent/agent.cc', '#include <systemd/sd-daemon.h>\n')
        code, err, _ = run_check(self.tmp)
        self.assertEqual(code, 1)
        self.assertIn('layering: src/agent/agent.cc: includes systemd/sd-daemon.h, but agent does '
                      'not list PkgConfig::SYSTEMD (DEPS in src/agent/CMakeLists.txt)', err)

    def test_core_linking_an_io_library_fails(self):
        self.add('src/core/CMakeLists.txt', '# target_link_libraries(metastack_core SQLite::SQLite3)\n')
        code, err, _ = run_check(self.tmp)
        self.assertEqual(code, 1)
        self.assertIn('layering: src/core/CMakeLists.txt: core/ must not link SQLite', err)

    def test_a_test_may_use_what_its_test_binary_links(self):
        # agent_test links metastack::api (a real API behind the agent); the agent may not.
        self.add('src/agent/agent_test.cc', '#include "api/service.h"\n')
        self.assertEqual(run_check(self.tmp)[:2], (0, ''))
        self.add('src/agent/agent.cc', '#include "api/service.h"\n')
        code, err, _ = run_check(self.tmp)
        self.assertEqual(code, 1)
        self.assertIn('src/agent/agent.cc: includes api/service.h, but agent does not depend '
                      'on api', err)

    def test_every_module_library_waits_for_the_check(self):
        text = (ROOT / 'cmake' / 'metastack.cmake').read_text()
        self.assertIn('add_dependencies(metastack_${name} layering_check)', text)


if __name__ == '__main__':
    unittest.main(verbosity=2)

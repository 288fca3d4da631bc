#!/usr/bin/python3
"""README.md's "Using it", run as a newcomer runs it: every command of its code blocks, as
written, in order, from the checkout, with `metastack` (the binary under test) on PATH and no
METASTACK_* variable set. It runs in private namespaces (doc_commands.enter_sandbox): /var/lib
and /run start empty, as on a fresh machine, and this host's /var/lib/metastack is never
touched; the network namespace is private too, so serve's admin port is ours. A failure names
the README line and the command.

Run (as root):  /usr/bin/python3 tests/integration/test_readme.py --metastack BINARY
"""
import os
import pathlib
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, metastack_binary  # noqa: E402
import doc_commands  # noqa: E402
from doc_commands import CommandFailed, Runner  # noqa: E402

METASTACK = metastack_binary()

SAMPLE = '''# Title
## Using it
Prose.

    one a   # a comment
    # a comment line

    two \\
      continued
Prose right after a block.
    not code: a paragraph's continuation

```sh
three
```
```xml
<four/>
```
### A subsection belongs to the section

    five
## Next

    six
'''


class ExtractionTest(unittest.TestCase):
    """The machinery itself: what counts as a command, and that a failure is reported."""

    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix='metastack-readme-'))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_code_blocks_continuations_and_comments(self):
        self.assertEqual(doc_commands.commands(doc_commands.section(SAMPLE, 'Using it')),
                         [(5, 'one a   # a comment'), (8, 'two \\\n  continued'), (14, 'three'),
                          (21, 'five')])
        with self.assertRaisesRegex(AssertionError, 'no section "Missing"'):
            doc_commands.section(SAMPLE, 'Missing')

    def test_the_failing_command_is_named(self):
        runner = Runner('X.md', self.tmp, dict(os.environ), self.tmp)
        with self.assertRaises(CommandFailed) as cm:
            runner.run_all([(3, 'true'), (4, 'echo out; echo err >&2; false  # why'), (5, 'true')])
        self.assertEqual(str(cm.exception), 'X.md line 4: `echo out; echo err >&2; false  # why` '
                                            'exited 1:\nout\nerr\n')
        self.assertEqual([n for n, _, _ in runner.ran], [3, 4])

    def test_a_daemon_must_get_ready_and_exit_0_on_sigterm(self):
        runner = Runner('X.md', self.tmp, dict(os.environ), self.tmp, ready_timeout=5)
        with self.assertRaisesRegex(CommandFailed, r'^X.md line 7: `false  # until Ctrl-C` exited '
                                                   r'1 before it was serving'):
            runner.run_all([(7, 'false  # until Ctrl-C')])
        runner = Runner('X.md', self.tmp, dict(os.environ), self.tmp)
        with self.assertRaisesRegex(CommandFailed, r'X.md line 8: `bash -c .*` exited 3 on '
                                                   r'SIGTERM'):
            runner.run_all([(8, '''bash -c 'trap "exit 3" TERM; echo serving: x; '''
                                '''while :; do sleep 0.05; done'  # until Ctrl-C''')])
        runner = Runner('X.md', self.tmp, dict(os.environ), self.tmp)
        with self.assertRaisesRegex(CommandFailed, r'X.md line 9: `echo serving: x  # until '
                                                   r'Ctrl-C` exited 0 before it was stopped'):
            runner.run_all([(9, 'echo serving: x  # until Ctrl-C'), (10, 'sleep 0.5')])


class ReadmeTest(unittest.TestCase):
    def test_using_it_runs_as_written(self):
        self.assertFalse(os.path.exists('/var/lib/metastack'))  # the sandbox's fresh /var/lib
        tmp = pathlib.Path(tempfile.mkdtemp(prefix='metastack-readme-'))
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        cmds, runner = doc_commands.reader(ROOT, 'README.md', 'Using it', METASTACK, tmp)
        self.assertGreaterEqual(len(cmds), 12, cmds)  # the extraction found the blocks
        self.assertTrue(any(doc_commands.FOREGROUND in c for _, c in cmds), cmds)
        runner.run_all(cmds)
        checkout = runner.cwd
        # What the commands were to leave behind, where a reader finds it.
        self.assertEqual(oct(os.stat('/var/lib/metastack').st_mode & 0o777), '0o700')
        self.assertTrue(os.path.exists('/var/lib/metastack/metastack.db'))
        for name in ('drive.iso', 'disk.xml', 'sysinfo.xml', 'drive/openstack/latest'):
            self.assertTrue((checkout / name).exists(), name)


if __name__ == '__main__':
    doc_commands.enter_sandbox(METASTACK, net=True)
    unittest.main()

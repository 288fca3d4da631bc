#!/usr/bin/python3
"""Writes metastack(1) from the binary's own --help: the top-level help, then every verb's and
every verb's subcommands' (`metastack net dhcp-setup --help`), so the page says exactly what the
binary it ships with accepts. Plain man(7) macros; the help text kept as written (.nf).

Usage: manpage.py METASTACK OUT   (OUT ending in .gz is gzipped, reproducibly)"""
import gzip
import os
import re
import subprocess
import sys

SUBCOMMAND = re.compile(r'^  (\S+)\s{2,}')


def helptext(binary, args):
    env = dict(os.environ, ASAN_OPTIONS='detect_leaks=0')
    done = subprocess.run([binary, *args, '--help'], capture_output=True, text=True, env=env,
                          timeout=60)
    if done.returncode != 0:
        sys.exit(f'manpage: {" ".join([binary, *args, "--help"])} exited {done.returncode}: '
                 f'{done.stderr.strip()}')
    return done.stdout.rstrip('\n')


def subcommands(text):
    """The names CLI11 lists under 'Subcommands:'."""
    names, inside = [], False
    for line in text.splitlines():
        if line == 'Subcommands:':
            inside = True
        elif inside and SUBCOMMAND.match(line):
            names.append(SUBCOMMAND.match(line).group(1))
        elif inside and line and not line.startswith('    '):
            inside = False
    return names


def roff(text):
    """Text for a .nf block: backslashes escaped, no line read as a request."""
    out = []
    for line in text.splitlines():
        line = line.replace('\\', '\\e')
        if line.startswith(('.', "'")):
            line = '\\&' + line
        out.append(line)
    return '\n'.join(out)


def page(binary):
    version = subprocess.run([binary, '--version'], capture_output=True, text=True,
                             timeout=60).stdout.strip()
    top = helptext(binary, [])
    description = top.split('\nUsage:', 1)[0].strip()
    parts = [
        f'.TH METASTACK 1 "" "{version}" "User Commands"',
        '.SH NAME',
        'metastack \\- OpenStack instance metadata: config drives and the metadata service',
        '.SH SYNOPSIS',
        '.B metastack',
        '\\fICOMMAND\\fR [\\fISUBCOMMAND\\fR] [\\fIOPTIONS\\fR]',
        '.br',
        '.B metastack',
        '\\fICOMMAND\\fR \\fB\\-\\-help\\fR',
        '.SH DESCRIPTION',
        roff(description).replace('\n', ' '),
        '.PP',
        'The daemons (\\fBserve\\fR, \\fBapi\\fR, \\fBagent\\fR, \\fBproxy\\fR) read '
        '\\fI/etc/metastack/metastack.toml\\fR when given \\fB\\-\\-config\\fR; each key of '
        'that file is one of their flags. SIGTERM drains and stops them; SIGHUP re-reads the '
        'configuration. Under systemd (Type=notify) they report readiness, reloads and '
        'shutdown, and send watchdog pings when WatchdogSec= is set.',
        '.SH OPTIONS',
        '.nf',
        roff(top.split('\nOptions:\n', 1)[1].split('\nSubcommands:', 1)[0].rstrip()),
        '.fi',
        '.SH COMMANDS',
    ]
    for verb in subcommands(top):
        text = helptext(binary, [verb])
        parts += [f'.SS "metastack {verb}"', '.nf', roff(text), '.fi']
        for sub in subcommands(text):
            parts += [f'.SS "metastack {verb} {sub}"', '.nf',
                      roff(helptext(binary, [verb, sub])), '.fi']
    parts += [
        '.SH FILES',
        '.TP',
        '.I /etc/metastack/metastack.toml',
        'The daemons\' configuration (every key documented in the file).',
        '.TP',
        '.I /var/lib/metastack/',
        'The default SQLite store.',
        '.TP',
        '.I /run/metastack/',
        'The agent\'s socket (agent.sock), the proxy\'s control socket (proxy.sock), DHCP state.',
        '.TP',
        '.I /lib/systemd/system/metastack*.service',
        'The systemd units: metastack (serve), metastack-api, metastack-agent, metastack-proxy.',
        '.SH EXIT STATUS',
        '0 on success; 1 on failure; 2 on a usage error.',
        '.SH SEE ALSO',
        '.BR systemctl (1),',
        '.BR ip (8),',
        '.BR iptables (8),',
        '.BR dnsmasq (8);',
        '/usr/share/doc/metastack/',
    ]
    return '\n'.join(parts) + '\n'


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    text = page(argv[1]).encode()
    out = argv[2]
    tmp = out + '.tmp'
    if out.endswith('.gz'):
        with open(tmp, 'wb') as raw, gzip.GzipFile(filename='', mode='wb', fileobj=raw,
                                                   mtime=0, compresslevel=9) as f:
            f.write(text)
    else:
        with open(tmp, 'wb') as f:
            f.write(text)
    os.replace(tmp, out)


if __name__ == '__main__':
    main(sys.argv)

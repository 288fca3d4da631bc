#!/usr/bin/python3
"""Fails the build when a binary names a shared library it must not load (readelf -d's NEEDED):
`metastack` runs its light verbs without the server and database libraries, and one reference
from the code it links to a unity file of api/, store/ or daemon/ would bring them all back.

Usage: check_needed.py BINARY FORBIDDEN_PREFIX...  -- prints the offending NEEDED entries and
exits 1, or exits 0."""
import re
import subprocess
import sys


def main():
    binary, forbidden = sys.argv[1], sys.argv[2:]
    dynamic = subprocess.run(['readelf', '-d', binary], capture_output=True, text=True,
                             check=True).stdout
    needed = re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', dynamic)
    bad = [lib for lib in needed if any(lib.startswith(prefix) for prefix in forbidden)]
    if bad:
        sys.exit(f'{binary} needs {", ".join(bad)}: the light verbs must not load server or '
                 'database libraries (apps/metastack/CMakeLists.txt)')


if __name__ == '__main__':
    main()

"""`python -m bench.peak_rss CMD...`: run CMD, then print its peak RSS in MB on stderr's last line.

Linux counts the pages a process had when it forked (and before exec) in its peak, so a child
of the big benchmark process would report the benchmark's size. Forked from this small process,
the figure is the command's own.
"""

import os
import subprocess
import sys

if __name__ == "__main__":
    proc = subprocess.Popen(sys.argv[1:])
    _, status, usage = os.wait4(proc.pid, 0)
    print(f"peak_rss_mb={usage.ru_maxrss / 1024:.1f}", file=sys.stderr)
    sys.exit(os.waitstatus_to_exitcode(status))

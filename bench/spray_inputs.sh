#!/usr/bin/env bash
# The two inputs of bench/hunt_spray.sh and bench/server_spray.sh, written into DIR:
#   spray.log  LINES failed passwords for invalid users (seven names in turn) from
#              10.9.9.9, twenty a second, each on its own sshd process;
#   mixed.log  the first LINES lines of ../shared/data/ssh-logs/loghub_OpenSSH_2k.log
#              repeated.
#
#   bash bench/spray_inputs.sh LINES DIR
set -euo pipefail
cd "$(dirname "$0")/.."
lines="$1"
dir="$2"
awk -v n="$lines" 'BEGIN {
    for (i = 0; i < n; i++) {
        t = int(i / 20); h = 6 + int(t / 3600); m = int(t / 60) % 60; s = t % 60
        printf "Dec 10 %02d:%02d:%02d LabSZ sshd[%d]: Failed password for invalid user u%d from 10.9.9.9 port %d ssh2\n",
            h % 24, m, s, 20000 + i % 5000, i % 7, 1024 + i % 60000
    }
}' > "$dir/spray.log"
src=../shared/data/ssh-logs/loghub_OpenSSH_2k.log
copies=$(( lines / 2000 + 1 ))
for _ in $(seq "$copies"); do awk 1 "$src"; done | awk -v n="$lines" 'NR <= n' > "$dir/mixed.log"

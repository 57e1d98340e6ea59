#!/usr/bin/env python3
"""notify-receiver.py SOCKET LOG UNTIL -- CMD...: stands in for systemd's end
of the sd_notify protocol.  Binds the datagram socket SOCKET (give it to the
daemon as NOTIFY_SOCKET) and writes each datagram to LOG as a line
"datagram A=1|B=2".  The moment READY=1 arrives it runs CMD (what must work
by then) and writes "at-ready exit=RC output=...".  Exits after the datagram
carrying UNTIL=1 (READY or STOPPING), or with status 1 after 60 s of silence."""
import socket
import subprocess
import sys

path, log_path, until = sys.argv[1:4]
command = sys.argv[sys.argv.index("--") + 1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(60)
with open(log_path, "w", buffering=1) as log:
    while True:
        try:
            assignments = s.recv(4096).decode().split("\n")
        except socket.timeout:
            sys.exit(1)
        log.write("datagram " + "|".join(assignments) + "\n")
        if "READY=1" in assignments:
            r = subprocess.run(command, capture_output=True, text=True)
            output = " ".join((r.stdout + r.stderr).split())
            log.write("at-ready exit=%d output=%s\n" % (r.returncode, output))
        if until + "=1" in assignments:
            break

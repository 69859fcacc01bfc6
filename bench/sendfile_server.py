"""A reference server for bench/artifacts.sh's download: the file by sendfile and nothing else.

Answers every request on 127.0.0.1:PORT with FILE, its head then the bytes by the kernel's
sendfile (no copy through user space), one connection at a time, `Connection: close`. A
download from it by the same client is printed beside devreg's and `cat FILE > /dev/null`:
a reference, not a ceiling (devreg's download has beaten it on a quiet machine).

    python3 bench/sendfile_server.py PORT FILE
"""

import os
import socket
import sys


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    size = os.path.getsize(path)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    while True:
        conn, _ = listener.accept()
        with conn, open(path, "rb") as f:
            try:
                if conn.recv(65536):
                    conn.sendall(head)
                    conn.sendfile(f)
            except OSError:
                pass  # the client went away: serve the next


if __name__ == "__main__":
    main()

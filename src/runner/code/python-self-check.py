# The start-time self-check of the Python sandbox (python-sandbox.ts), run unrestricted
# inside one sandbox: it tries what a step must never manage and reports what got through.
# argv[1]: JSON list of host paths that must not be readable (the worker's /proc environ,
# its working directory, /etc/passwd).
import json, os, sys

escaped = []
for path in json.loads(sys.argv[1]):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, 'rb') as f:
                f.read(1)
        escaped.append(f'read {path}')
    except OSError:
        pass
try:
    import socket
    for family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
        try:
            socket.socket(family, socket.SOCK_STREAM).close()
            escaped.append(f'open a socket ({family.name})')
        except OSError:
            pass
except ImportError:
    pass
try:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    escaped.append('fork')
except OSError:
    pass
leaked = sorted(k for k in os.environ if k not in ('PWD', 'LC_CTYPE'))
if leaked:
    escaped.append(f'see environment variables {leaked}')
if os.getuid() == 0:
    escaped.append('run as root')
print(json.dumps({'escaped': escaped}))

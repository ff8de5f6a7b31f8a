# Bootstrap of a Python code step, run as `python3 -I -S -c <this>` inside the bubblewrap
# sandbox (python-sandbox.ts): own user, mount, pid, network and IPC namespaces, a read-only
# root holding only the interpreter's files, no environment, a seccomp filter refusing
# sockets and new processes. That sandbox is the security boundary.
#
# Protocol: JSON lines. stdin: the start message, then answers to http requests.
# stdout: log lines, http requests, and finally one result or error. A pooled interpreter
# starts, imports the allowed modules and waits for the start message (a warm start).
#
# What this file adds inside the boundary is convenience and defence in depth, NOT a
# boundary: restricted builtins, an import allow-list and a check that refuses underscore
# attributes give clear E_CODE_FORBIDDEN errors for the obvious things; the rlimits below
# bound memory, CPU and file writes per step. Known escapes of the Python-level layer (see
# test/unit/python-escapes.test.ts) end inside the sandbox with nothing to reach.
#
# `discover` mode (argv[1], run once at start, outside the sandbox, by python-mounts.ts):
# import the allowed modules and report which files the interpreter needs.
import ast, builtins, json, resource, sys

_out = sys.stdout
_in = sys.stdin
_real_import = builtins.__import__

ALLOWED_MODULES = {
    'json', 'math', 're', 'datetime', 'time', 'random', 'statistics', 'itertools', 'functools',
    'collections', 'string', 'decimal', 'fractions', 'base64', 'hashlib', 'hmac', 'uuid',
    'textwrap', 'typing', 'copy', 'operator', 'bisect', 'heapq', 'calendar', 'zoneinfo',
    'urllib.parse', 'unicodedata', 'enum', 'dataclasses',
}
SAFE_BUILTINS = [
    'abs', 'all', 'any', 'ascii', 'bin', 'bool', 'bytearray', 'bytes', 'callable', 'chr',
    'complex', 'dict', 'divmod', 'enumerate', 'filter', 'float', 'format', 'frozenset', 'hash',
    'hex', 'int', 'isinstance', 'issubclass', 'iter', 'len', 'list', 'map', 'max', 'min', 'next',
    'object', 'oct', 'ord', 'pow', 'range', 'repr', 'reversed', 'round', 'set', 'slice',
    'sorted', 'str', 'sum', 'tuple', 'zip', 'True', 'False', 'None', 'Exception',
    'ArithmeticError', 'AssertionError', 'AttributeError', 'IndexError', 'KeyError',
    'LookupError', 'NameError', 'NotImplementedError', 'OverflowError', 'RuntimeError',
    'StopIteration', 'TypeError', 'ValueError', 'ZeroDivisionError', 'BaseException',
    'NotImplemented', 'Ellipsis', 'property', 'staticmethod', 'classmethod', 'super',
]


class Forbidden(Exception):
    pass


def send(msg):
    _out.write(json.dumps(msg, default=str) + '\n')
    _out.flush()


def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level != 0 or (name not in ALLOWED_MODULES and name.split('.')[0] not in ALLOWED_MODULES):
        raise Forbidden(
            f"import of '{name}' is not allowed in code steps (no file system, processes, "
            f"network or environment); allowed modules: {', '.join(sorted(ALLOWED_MODULES))}"
        )
    return _real_import(name, globals, locals, fromlist, level)


def blocked(name):
    def refuse(*_a, **_k):
        raise Forbidden(f"{name}() is not available in code steps")
    return refuse


def log(*args, level='info'):
    text = ' '.join(a if isinstance(a, str) else json.dumps(a, default=str) for a in args)
    send({'type': 'log', 'level': level, 'message': text})


_seq = [0]


class Http:
    def request(self, method='GET', url=None, headers=None, body=None):
        _seq[0] += 1
        send({'type': 'http', 'id': _seq[0], 'request': {
            'method': method, 'url': url, 'headers': headers or {}, 'body': body}})
        answer = json.loads(_in.readline())
        if 'error' in answer:
            raise RuntimeError(answer['error'])
        return answer['ok']

    def get(self, url, headers=None):
        return self.request('GET', url, headers)

    def post(self, url, body=None, headers=None):
        return self.request('POST', url, headers, body)


class UnderscoreCheck(ast.NodeVisitor):
    def visit_Attribute(self, node):
        if node.attr.startswith('_'):
            raise Forbidden(f"attribute '{node.attr}' is not available in code steps (line {node.lineno})")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id.startswith('__'):
            raise Forbidden(f"name '{node.id}' is not available in code steps (line {node.lineno})")
        self.generic_visit(node)


def warm_up():
    for name in sorted(ALLOWED_MODULES):
        _real_import(name)


def discover():
    import sysconfig
    mapped = set()
    with open('/proc/self/maps') as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].startswith('/'):
                mapped.add(parts[5].strip())
    stdlib = {sysconfig.get_path('stdlib'), sysconfig.get_path('platstdlib')}
    tzpath = (sysconfig.get_config_var('TZPATH') or '').split(':')
    send({'executable': sys.executable, 'stdlib': sorted(stdlib),
          'tzpath': [t for t in tzpath if t], 'mapped': sorted(mapped)})


def main():
    line = _in.readline()
    if not line:
        return  # the worker closed a pooled interpreter without using it
    start = json.loads(line)
    limit = int(start['memoryLimitBytes'])
    cpu = int(start['cpuSeconds'])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        tree = ast.parse(start['code'], filename='step.py', mode='exec')
        UnderscoreCheck().visit(tree)
        args = ast.arguments(posonlyargs=[], args=[ast.arg(arg='input')], kwonlyargs=[],
                             kw_defaults=[], defaults=[])
        extra = {'type_params': []} if 'type_params' in ast.FunctionDef._fields else {}
        fn = ast.FunctionDef(name='step', args=args, body=tree.body or [ast.Pass()],
                             decorator_list=[], returns=None, **extra)
        module = ast.fix_missing_locations(ast.Module(body=[fn], type_ignores=[]))
        code = compile(module, 'step.py', 'exec')
        safe = {n: getattr(builtins, n) for n in SAFE_BUILTINS}
        safe['__import__'] = guarded_import
        safe['print'] = log
        for name in ('open', 'eval', 'exec', 'compile', 'input', 'breakpoint', 'globals',
                     'locals', 'vars', 'getattr', 'setattr', 'delattr', 'memoryview', 'help',
                     'exit', 'quit'):
            safe[name] = blocked(name)
        scope = {'__builtins__': safe, '__name__': 'step', 'http': Http(), 'log': log}
        exec(code, scope)
        output = scope['step'](start['input'])
        send({'type': 'result', 'output': json.loads(json.dumps(output))})
    except Forbidden as e:
        send({'type': 'error', 'code': 'E_CODE_FORBIDDEN', 'message': str(e)})
    except MemoryError:
        send({'type': 'error', 'code': 'E_CODE_MEMORY_LIMIT', 'message': 'MemoryError'})
    except SyntaxError as e:
        send({'type': 'error', 'code': 'E_CODE_ERROR', 'message': f'SyntaxError: {e.msg} (line {e.lineno})'})
    except BaseException as e:
        tb = e.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == 'step.py':
                line = tb.tb_lineno
            tb = tb.tb_next
        where = f' (line {line})' if line else ''
        send({'type': 'error', 'code': 'E_CODE_ERROR', 'message': f'{type(e).__name__}: {e}{where}'})


warm_up()
if sys.argv[1:] == ['discover']:
    discover()
else:
    send({'type': 'ready'})  # the pool now counts this interpreter as warm
    main()

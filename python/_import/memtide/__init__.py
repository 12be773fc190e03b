"""What `memtide run` puts at the end of a profiled program's PYTHONPATH
(installed as memtide/_import/memtide), so that `import memtide` works in
whichever interpreter runs the program: it imports the package this
directory is in, the one holding the tracker and its memtide._memtide."""
import importlib.util
import os
import sys

_pkg = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    __name__, os.path.join(_pkg, "__init__.py"), submodule_search_locations=[_pkg])
_module = importlib.util.module_from_spec(_spec)
sys.modules[__name__] = _module
_spec.loader.exec_module(_module)

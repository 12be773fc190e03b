"""pip install --no-build-isolation .  (offline: make builds everything)

The package is what `make` leaves in build/python/memtide: the Python
modules, memtide._memtide for every CPython make finds and for this one,
libmemtide.so and the memtide command, plus memtide/_import (see
python/_import).  The pytest plugin and the `memtide` console script
(memtide.__main__, which execs the command) are registered by entry point;
`python -m memtide` runs it too.
"""
import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithMake(build_py):
    def run(self):
        # helpers for every CPython make finds, and for this one
        subprocess.check_call(["make", "-C", HERE])
        built = os.path.join(HERE, "build", "python", "memtide")
        ext = sysconfig.get_config_var("EXT_SUFFIX")
        if not os.path.exists(os.path.join(built, "_memtide" + ext)):
            os.remove(os.path.join(HERE, "build", "python", ".stamp"))
            subprocess.check_call(["make", "-C", HERE, "PYTHONS=" + sys.executable])
        target = os.path.join(self.build_lib, "memtide")
        if os.path.exists(target):
            shutil.rmtree(target)
        shutil.copytree(built, target)
        # memtide/_import/memtide: `import memtide` inside `memtide run`
        shim = os.path.join(target, "_import", "memtide")
        os.makedirs(shim)
        shutil.copy(os.path.join(HERE, "python", "_import", "memtide", "__init__.py"), shim)


cmdclass = {"build_py": BuildWithMake}
try:
    from wheel.bdist_wheel import bdist_wheel

    class AnyPythonWheel(bdist_wheel):
        """The wheel runs on any CPython 3.9+ it has a helper for (the
        command and the tracker are not Python extensions): built once
        with Debian's python, it installs offline into a venv whose
        Python has no setuptools (pyenv's 3.12, 3.13)."""
        def get_tag(self):
            return "py3", "none", super().get_tag()[2]

    cmdclass["bdist_wheel"] = AnyPythonWheel
except ImportError:
    pass


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(
    name="memtide",
    version="0.1.0",
    description="memory profiler for Python and native programs",
    packages=["memtide"],
    package_dir={"memtide": "python/memtide"},
    cmdclass=cmdclass,
    distclass=BinaryDistribution,
    entry_points={"pytest11": ["memtide = memtide.pytest_plugin"],
                  "console_scripts": ["memtide = memtide.__main__:main"]},
    python_requires=">=3.9",
    # setuptools' scratch stays in build/, out of the source tree (an
    # egg-info there would make any pytest run from the tree load the plugin)
    options={"egg_info": {"egg_base": "build"}},
)

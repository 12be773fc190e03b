"""pip install --no-build-isolation .  (offline: make builds everything)

The package is what `make` leaves in build/python/memtide: the Python
modules, memtide._memtide for this interpreter, libmemtide.so and the
memtide command.  The pytest plugin is registered by entry point.
"""
import os
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithMake(build_py):
    def run(self):
        subprocess.check_call(["make", "-C", HERE, "PYTHONS=" + sys.executable])
        built = os.path.join(HERE, "build", "python", "memtide")
        target = os.path.join(self.build_lib, "memtide")
        if os.path.exists(target):
            shutil.rmtree(target)
        shutil.copytree(built, target)


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(
    name="memtide",
    version="0.1.0",
    description="memory profiler for Python and native programs",
    packages=["memtide"],
    package_dir={"memtide": "python/memtide"},
    cmdclass={"build_py": BuildWithMake},
    distclass=BinaryDistribution,
    entry_points={"pytest11": ["memtide = memtide.pytest_plugin"],
                  "console_scripts": []},
    python_requires=">=3.9",
    # setuptools' scratch stays in build/, out of the source tree (an
    # egg-info there would make any pytest run from the tree load the plugin)
    options={"egg_info": {"egg_base": "build"}},
)

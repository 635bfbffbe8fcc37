"""A local memories.ai: the upload_url contract enforced strictly, plus fault injection for tests.

Start it in-process with `MemoriesEmulator().start()` or from a shell with
`python -m devstack.emulator --port 8766 --api-key KEY`.
"""

from devstack.emulator.server import MemoriesEmulator

__all__ = ["MemoriesEmulator"]

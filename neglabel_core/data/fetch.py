"""Pinned, verified downloads of npm packages and safe extraction of what is needed.

``npm pack NAME@VERSION`` fetches the tarball with the machine's npm (its registry settings,
its cache); the file is then checked against the pinned Subresource-Integrity hash
(``sha512-<base64>``) before anything reads it. Extraction uses tarfile's ``"data"`` filter
(no absolute paths, no "..", no links out of the target) into a temporary folder that is
renamed into place when complete.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..files import dir_mode, remove_dead_temp_files, temp_name


class FetchError(RuntimeError):
    """A download failed, or its content does not match the pinned hash."""


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    integrity: str  # "sha512-<base64>", as npm reports it

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball_name(self) -> str:
        return f"{self.name.replace('@', '').replace('/', '-')}-{self.version}.tgz"


def sri_sha512(path: Path) -> str:
    """The Subresource-Integrity string of a file: ``sha512-`` + base64 of its SHA-512."""
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def verify(path: Path, package: NpmPackage) -> None:
    actual = sri_sha512(path)
    if actual != package.integrity:
        raise FetchError(
            f"{path} does not match the pinned integrity of {package.spec}: got {actual[:27]}..., "
            f"expected {package.integrity[:27]}...; the download is corrupt or was tampered with"
        )


def npm_pack(package: NpmPackage, folder: Path) -> Path:
    """The verified tarball of ``package`` in ``folder``, fetched with ``npm pack`` if missing."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / package.tarball_name
    if target.exists():
        try:
            verify(target, package)
            return target
        except FetchError:
            target.unlink()  # a bad earlier download: fetch again
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError(
            f"npm is not installed, and the emoji benchmark's images come from npm packages ({package.spec}). "
            "Install Node.js with npm (e.g. `apt-get install npm`) and run again."
        )
    with tempfile.TemporaryDirectory(dir=folder, prefix=".npm-pack-") as tmp:
        result = subprocess.run(
            [npm, "pack", package.spec, "--json", "--silent", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise FetchError(f"`npm pack {package.spec}` failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
        try:
            filename = json.loads(result.stdout)[0]["filename"]
        except (json.JSONDecodeError, LookupError, TypeError):
            raise FetchError(f"`npm pack {package.spec}` printed no tarball name: {result.stdout[-300:]!r}") from None
        fetched = Path(tmp) / filename
        verify(fetched, package)
        os.replace(fetched, target)
    return target


def extract(tarball: Path, dest: Path, keep: Callable[[str], bool], *, strip: str = "package/") -> int:
    """Extract the members whose path (after ``strip``) satisfies ``keep`` into ``dest``.

    Runs into a temporary sibling folder and renames it to ``dest`` at the end, so ``dest``
    exists only when complete. Where another process sharing the cache finished the same folder
    first (the rename finds ``dest`` there), its folder is kept and this one dropped: both come
    from the same pinned archive. Returns the number of files extracted.
    """
    if dest.exists():
        raise FileExistsError(f"{dest} exists already")
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temp_files(dest.parent, within=dest.parent)  # a killed run's half-extracted folders
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=temp_name(dest.name)))
    os.chmod(tmp, dir_mode())  # mkdtemp makes 0700; a shared cache needs the umask's mode
    count = 0
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                if not member.isfile() or not member.name.startswith(strip):
                    continue
                relative = member.name[len(strip) :]
                if not keep(relative):
                    continue
                member.name = relative
                archive.extract(member, tmp, filter="data")
                count += 1
        try:
            os.replace(tmp, dest)
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not dest.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process's complete folder stands
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return count

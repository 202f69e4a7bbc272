"""Sync by hand at the gate: write an entries bundle, settle a receipt, take lists in.

Used by `checkpoint bundle ...` and by the technician page. The gate signs with its [mqtt]
certificate and key, checks signers against [mqtt] tls_ca, and seals bundles to the
collector certificate of [bundle] collector_cert.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from cryptography import x509

from gateway.codes.files import write_atomic
from gateway.config import Settings
from gateway.core.errors import CheckpointError
from gateway.core.ports import Exported, Settled
from gateway.documents.remote import RemoteDocuments
from gateway.storage.store import EntryStore
from sync.bundle import (
    pending_batches,
    read_lists,
    read_receipt,
    write_entries_bundle,
)
from sync.sealing import Identity, SealError, load_certificate, load_identity

log = logging.getLogger(__name__)

BUNDLE_SUFFIX = ".bundle"
RECEIPT_SUFFIX = ".receipt"
LISTS_SUFFIX = ".lists"


class BundleSetupError(CheckpointError):
    """The config lacks what sync by hand needs (certificates, the collector's certificate)."""


def site_identity(settings: Settings) -> tuple[Identity, x509.Certificate]:
    """This machine's certificate and key ([mqtt] tls_cert, tls_key) and the site CA."""
    mqtt = settings.mqtt
    if mqtt.tls_cert is None or mqtt.tls_key is None or mqtt.tls_ca is None:
        raise BundleSetupError(
            "sync by hand needs [mqtt] tls_ca, tls_cert and tls_key "
            "(this machine's certificate from 'checkpoint certs')"
        )
    try:
        return load_identity(mqtt.tls_cert, mqtt.tls_key), load_certificate(mqtt.tls_ca)
    except SealError as error:
        raise BundleSetupError(str(error)) from None


def bundle_name(settings: Settings, now: datetime, suffix: str = BUNDLE_SUFFIX) -> str:
    """A file name that says whose bundle it is and when it was written."""
    return f"checkpoint-{settings.gate.site}-{settings.gate.id}-{now:%Y%m%dT%H%M%SZ}{suffix}"


def mounted_media(settings: Settings) -> list[Path]:
    """Writable mount points one or two levels under [bundle] media (e.g. /media/STICK,
    /run/media/USER/STICK): the USB sticks plugged in, never the system disk itself."""
    found = {
        candidate
        for root in settings.bundle.media
        for candidate in _two_levels(root)
        if candidate.is_mount() and os.access(candidate, os.W_OK)
    }
    return sorted(found)


def _files(directory: Path) -> list[Path]:
    try:
        return [path for path in directory.iterdir() if path.is_file()]
    except OSError:
        return []


def _two_levels(root: Path) -> Iterator[Path]:
    for child in _directories(root):
        yield child
        yield from _directories(child)


def _directories(parent: Path) -> list[Path]:
    try:
        return [child for child in parent.iterdir() if child.is_dir()]
    except OSError:
        return []


class GateBundles:
    """The gate's side of sync by hand; nothing here marks an entry synced but a receipt."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: EntryStore,
        remote: RemoteDocuments,
        now: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._store = store
        self._remote = remote
        self._now = now

    def export(self, path: Path) -> Exported:
        """Write every unacknowledged entry to `path` (atomically: a whole bundle or none)."""
        identity, ca = site_identity(self._settings)
        recipient_path = self._settings.bundle.collector_cert
        if recipient_path is None:
            raise BundleSetupError(
                "[bundle] collector_cert is not set: the collector certificate to seal to"
            )
        recipient = self._certificate(recipient_path)
        now = self._now()
        site, gate = self._settings.gate.site, self._settings.gate.id
        batches, count = pending_batches(self._store, site=site, gate=gate, now=now)
        data = write_entries_bundle(
            batches, site=site, gate=gate, identity=identity, recipient=recipient, ca=ca, now=now
        )
        write_atomic(path, data, mode=0o600)
        log.info("wrote an entries bundle of %d entries to %s", count, path)
        return Exported(path, count)

    def settle(self, data: bytes) -> Settled:
        """Settle exactly the entries a collector's receipt names, as its ack would."""
        _, ca = site_identity(self._settings)
        now = self._now()
        receipt = read_receipt(
            data, ca=ca, site=self._settings.gate.site, gate=self._settings.gate.id, now=now
        )
        settled = (
            self._store.mark_synced(ids=receipt.ids, revisions=receipt.revisions)
            if receipt.ids
            else 0
        )
        log.info("receipt for bundle %s settled %d entries", receipt.bundle_id, settled)
        return Settled(receipt.bundle_id, len(receipt.ids), settled)

    async def import_lists(self, data: bytes) -> list[str]:
        """Put the bundle's lists and policy in force, by the checks of the MQTT path; one line
        per document saying what became of it."""
        _, ca = site_identity(self._settings)
        lists = read_lists(
            data, ca=ca, site=self._settings.gate.site, gate=self._settings.gate.id, now=self._now()
        )
        lines = []
        if lists.trust is not None:
            lines.append(f"trust list: {await self._remote.apply_trust(lists.trust)}")
        if lists.status is not None:
            lines.append(f"status list: {await self._remote.apply_status(lists.status)}")
        if lists.policy is not None:
            lines.append(
                f"policy: {self._remote.apply_policy(lists.policy, source='lists bundle')}"
            )
        return lines or ["the bundle holds no lists"]

    def sticks(self) -> list[Path]:
        return mounted_media(self._settings)

    def stick_files(self) -> list[Path]:
        return sorted(
            path
            for stick in self.sticks()
            for path in _files(stick)
            if path.suffix in (RECEIPT_SUFFIX, LISTS_SUFFIX)
        )

    def export_to(self, stick: Path) -> Exported:
        if stick not in self.sticks():
            raise BundleSetupError(f"{stick} is not a USB stick mounted here")
        return self.export(stick / bundle_name(self._settings, self._now()))

    def settle_file(self, path: Path) -> Settled:
        return self.settle(self._stick_file(path, RECEIPT_SUFFIX))

    async def import_lists_file(self, path: Path) -> list[str]:
        return await self.import_lists(self._stick_file(path, LISTS_SUFFIX))

    def _stick_file(self, path: Path, suffix: str) -> bytes:
        """A file's bytes, if it is one of the sticks' files of that kind (nothing else)."""
        if path.suffix != suffix or path not in self.stick_files():
            raise BundleSetupError(f"{path} is not a {suffix} file on a USB stick mounted here")
        return path.read_bytes()

    @staticmethod
    def _certificate(path: Path) -> x509.Certificate:
        try:
            return load_certificate(path)
        except SealError as error:
            raise BundleSetupError(str(error)) from None

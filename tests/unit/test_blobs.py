"""Attachments at rest: encrypted, streamed, hash-checked on every read, rotatable.

Frames are 1 KiB here so a few KiB of data spans several frames and every test stays fast.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from hub.config.settings import Settings
from hub.domain.errors import PermanentError
from hub.evidence.blob_format import TAG, read_header
from hub.evidence.blobs import BlobInfo, BlobStore, open_blob_store
from hub.evidence.keys import KeyRing

FRAME = 1024


def ring(*ids: str, active: str | None = None) -> KeyRing:
    return KeyRing({i: secrets.token_bytes(32) for i in ids}, active or ids[-1])


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs", ring("k1"), frame_size=FRAME)


def put(store: BlobStore, data: bytes, kind: str = "scan", chunk: int = 700) -> BlobInfo:
    w = store.writer(kind, max_bytes=10 * 1024 * 1024)
    for i in range(0, len(data), chunk):
        w.write(data[i:i + chunk])
    return w.commit(hashlib.sha256(data).hexdigest())


def read(store: BlobStore, info: BlobInfo, **kw: bool) -> bytes:
    return b"".join(store.open(info.id, info.sha256, **kw))


def frame_offsets(store: BlobStore, info: BlobInfo) -> tuple[int, int]:
    """(offset of frame 0, width of a full frame) in the blob file."""
    with open(store.path(info.id), "rb") as fh:
        header = read_header(fh, info.id)
    return len(header.raw), FRAME + TAG


def refused(store: BlobStore, info: BlobInfo, forged: bytes | None = None) -> PermanentError:
    """Reading must fail; with ``forged``, also when the recorded hash was forged to match it.

    The second read is what proves the frame layer itself catches the tamper (an insider who
    can edit blob files may also edit the hash in the database).
    """
    with pytest.raises(PermanentError) as caught:
        read(store, info)
    if forged is not None:
        with pytest.raises(PermanentError) as again:
            b"".join(store.open(info.id, hashlib.sha256(forged).hexdigest()))
        assert again.value.reason == "tampered"
    return caught.value


@pytest.mark.parametrize("size", [0, 1, FRAME - 1, FRAME, FRAME + 1, 3 * FRAME, 5 * FRAME + 17])
def test_round_trip_at_frame_boundaries(store: BlobStore, size: int) -> None:
    data = secrets.token_bytes(size)
    info = put(store, data)
    assert read(store, info) == data
    assert read(store, info, verify_first=True) == data
    assert (info.size, info.key_id) == (size, "k1")


def test_plaintext_never_reaches_the_disk(store: BlobStore) -> None:
    # given a recognisable document (a resident's ID number in a scan's OCR text)
    data = b"110101199003074514 " * 200
    info = put(store, data)
    raw = store.path(info.id).read_bytes()
    assert b"110101199003074514" not in raw
    assert not list(store.tmp_dir.glob("*")), "temp file left behind"


def test_a_flipped_ciphertext_byte_is_refused(store: BlobStore) -> None:
    info = put(store, secrets.token_bytes(3 * FRAME))
    path = store.path(info.id)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    assert refused(store, info).reason == "tampered"


def test_two_swapped_frames_are_refused(store: BlobStore) -> None:
    data = secrets.token_bytes(3 * FRAME + 10)
    info = put(store, data)
    start, width = frame_offsets(store, info)
    path = store.path(info.id)
    raw = path.read_bytes()
    f0, f1 = raw[start:start + width], raw[start + width:start + 2 * width]
    path.write_bytes(raw[:start] + f1 + f0 + raw[start + 2 * width:])
    swapped = data[FRAME:2 * FRAME] + data[:FRAME] + data[2 * FRAME:]
    assert refused(store, info, forged=swapped).reason == "tampered"


def test_a_truncated_last_frame_is_refused(store: BlobStore) -> None:
    # given a blob of exactly three full frames: dropping the last leaves a well-formed prefix
    data = secrets.token_bytes(3 * FRAME)
    info = put(store, data)
    start, width = frame_offsets(store, info)
    path = store.path(info.id)
    path.write_bytes(path.read_bytes()[:start + 2 * width])
    assert refused(store, info, forged=data[:2 * FRAME]).reason == "tampered"


def test_appended_bytes_are_refused(store: BlobStore) -> None:
    info = put(store, secrets.token_bytes(2 * FRAME))
    with open(store.path(info.id), "ab") as fh:
        fh.write(secrets.token_bytes(FRAME + TAG))
    assert refused(store, info).reason == "tampered"


def test_one_blob_copied_over_another_is_refused(store: BlobStore) -> None:
    a, b = put(store, b"a" * 5000), put(store, b"b" * 5000)
    store.path(b.id).write_bytes(store.path(a.id).read_bytes())
    assert refused(store, b, forged=b"a" * 5000).reason == "tampered"


def test_a_wrong_expected_hash_is_refused_and_the_last_chunk_is_withheld(store: BlobStore) -> None:
    data = secrets.token_bytes(3 * FRAME)
    info = put(store, data)
    got: list[bytes] = []
    with pytest.raises(PermanentError) as caught:
        for chunk in store.open(info.id, hashlib.sha256(b"other").hexdigest()):
            got.append(chunk)
    assert caught.value.reason == "tampered"
    assert b"".join(got) != data and len(b"".join(got)) < len(data)


def test_verify_first_releases_nothing_from_a_blob_with_the_wrong_hash(store: BlobStore) -> None:
    info = put(store, secrets.token_bytes(3 * FRAME))
    got: list[bytes] = []
    with pytest.raises(PermanentError):
        got.extend(store.open(info.id, "0" * 64, verify_first=True))
    assert got == []


def test_a_key_id_edited_in_the_header_is_refused(tmp_path: Path) -> None:
    # given two keys whose ids have the same length, and a blob under k1
    store = BlobStore(tmp_path, ring("k1", "k2", active="k1"), frame_size=FRAME)
    info = put(store, b"x" * 3000)
    path = store.path(info.id)
    path.write_bytes(path.read_bytes().replace(b"\x02k1", b"\x02k2", 1))
    assert store.key_id_of(info.id) == "k2"
    assert refused(store, info).reason == "tampered"


def test_a_blob_under_a_key_missing_from_the_ring_is_refused(tmp_path: Path) -> None:
    info = put(BlobStore(tmp_path, ring("old"), frame_size=FRAME), b"x" * 100)
    other = BlobStore(tmp_path, ring("new"), frame_size=FRAME)
    assert refused(other, info).reason == "unknown_key"


def test_a_declared_hash_mismatch_keeps_nothing(store: BlobStore) -> None:
    w = store.writer("scan", max_bytes=10_000)
    w.write(b"resident data")
    with pytest.raises(PermanentError) as caught:
        w.commit(hashlib.sha256(b"something else").hexdigest())
    assert caught.value.reason == "hash_mismatch"
    assert list(store.ids()) == [] and not list(store.tmp_dir.glob("*"))


def test_writing_past_the_limit_aborts(store: BlobStore) -> None:
    w = store.writer("video", max_bytes=2500)
    w.write(b"x" * 2000)
    with pytest.raises(PermanentError) as caught:
        w.write(b"x" * 501)
    assert caught.value.reason == "too_large"
    assert list(store.ids()) == [] and not list(store.tmp_dir.glob("*"))
    with pytest.raises(PermanentError):
        w.write(b"more")


@pytest.mark.parametrize("bad", ["../../etc/passwd", "..", "", "A" * 32, "0" * 31, "0" * 32 + "/"])
def test_blob_ids_cannot_escape_the_store(store: BlobStore, bad: str) -> None:
    with pytest.raises(PermanentError) as caught:
        store.open(bad, "0" * 64)
    assert caught.value.reason == "invalid_blob_id"
    with pytest.raises(PermanentError):
        store.delete(bad)


def test_a_missing_blob_is_reported_not_found(store: BlobStore) -> None:
    with pytest.raises(PermanentError) as caught:
        store.open("0" * 32, "0" * 64)
    assert caught.value.reason == "not_found"


def test_delete_is_idempotent(store: BlobStore) -> None:
    info = put(store, b"x")
    assert store.delete(info.id) is True
    assert store.delete(info.id) is False
    assert not store.exists(info.id)


def test_a_blob_under_an_old_key_still_opens_and_rotates_to_the_active_key(tmp_path: Path) -> None:
    # given a blob written under k1
    keys = {"k1": secrets.token_bytes(32), "k2": secrets.token_bytes(32)}
    old = BlobStore(tmp_path, KeyRing(keys, "k1"), frame_size=FRAME)
    data = secrets.token_bytes(4 * FRAME + 5)
    info = put(old, data)
    # when k2 becomes active: the blob still opens with k1 from the ring
    new = BlobStore(tmp_path, KeyRing(keys, "k2"), frame_size=FRAME)
    assert read(new, info) == data
    # and rotating re-encrypts it under k2, same id and content, new ciphertext
    before = new.path(info.id).read_bytes()
    assert new.rotate(info.id) == "k2"
    assert new.key_id_of(info.id) == "k2"
    assert new.path(info.id).read_bytes() != before
    assert read(new, info) == data
    # then a ring without k1 can still read it: the old key is really no longer needed
    assert read(BlobStore(tmp_path, KeyRing({"k2": keys["k2"]}, "k2")), info) == data
    assert new.rotate(info.id) == "k2"  # idempotent


def test_a_reader_keeps_reading_while_its_blob_is_rotated(tmp_path: Path) -> None:
    keys = {"k1": secrets.token_bytes(32), "k2": secrets.token_bytes(32)}
    data = secrets.token_bytes(6 * FRAME)
    info = put(BlobStore(tmp_path, KeyRing(keys, "k1"), frame_size=FRAME), data)
    new = BlobStore(tmp_path, KeyRing(keys, "k2"), frame_size=FRAME)
    stream = new.open(info.id, info.sha256)
    first = next(iter(stream))
    new.rotate(info.id)
    assert first + b"".join(stream) == data


def test_rotation_racing_deletion_never_revives_the_blob(tmp_path: Path) -> None:
    keys = {"k1": secrets.token_bytes(32), "k2": secrets.token_bytes(32)}
    infos = [put(BlobStore(tmp_path, KeyRing(keys, "k1"), frame_size=FRAME), b"x" * 5000)
             for _ in range(20)]
    new = BlobStore(tmp_path, KeyRing(keys, "k2"), frame_size=FRAME)

    def rotate_all(items: Iterable[BlobInfo]) -> None:
        for i in items:
            try:
                new.rotate(i.id)
            except PermanentError as exc:
                assert exc.reason == "not_found"

    t = threading.Thread(target=rotate_all, args=(infos,))
    t.start()
    for i in infos:
        new.delete(i.id)
    t.join()
    assert list(new.ids()) == []


def test_open_blob_store_generates_a_first_key_and_keeps_it(hub_data_dir: Path) -> None:
    settings = Settings(data_dir=hub_data_dir)
    info = put(open_blob_store(settings), b"hello")
    assert read(open_blob_store(settings), info) == b"hello"
    key_files = list((hub_data_dir / "keys").glob("*.key"))
    assert len(key_files) == 1
    assert os.stat(key_files[0]).st_mode & 0o077 == 0


def test_an_edited_header_field_is_refused(store: BlobStore) -> None:
    # the kind decides retention: relabelling a video as a document must not go unnoticed
    info = put(store, b"x" * 3000, kind="face_video")
    path = store.path(info.id)
    path.write_bytes(path.read_bytes().replace(b"face_video", b"face_vide0", 1))
    assert store.kind_of(info.id) == "face_vide0"
    assert refused(store, info, forged=b"x" * 3000).reason == "tampered"


def test_no_nonce_is_reused_within_a_blob_or_across_blobs(store: BlobStore) -> None:
    # GCM with a repeated nonce leaks the XOR of plaintexts and the authentication key
    data = b"\0" * (3 * FRAME)
    a, b = put(store, data), put(store, data)
    start, width = frame_offsets(store, a)
    raw_a, raw_b = store.path(a.id).read_bytes(), store.path(b.id).read_bytes()
    # compare the cipher bodies without their tags: the tags differ anyway (associated data)
    frames = [raw[start + i * width:start + (i + 1) * width - TAG] for raw in (raw_a, raw_b)
              for i in range(3)]
    assert len(set(frames)) == 6, "identical plaintext frames produced identical ciphertext"

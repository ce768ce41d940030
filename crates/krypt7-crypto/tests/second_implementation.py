"""A second implementation of KRYPT7's formats, written from docs/crypto.md alone.

It reads every frozen vector in tests/vectors/krypt7/ and checks that files named fail_*
are refused and every other file opens to exactly what it records. It shares no code with
krypt7-crypto: pyca/cryptography for AES-GCM, HKDF, HMAC, X25519 and Ed25519, argon2-cffi
for Argon2id, and HPKE (RFC 9180 base mode) written out below.

Run by `cargo xtask test`:  python second_implementation.py VECTOR_DIR
"""

import hashlib
import hmac
import json
import pathlib
import struct
import sys
import unicodedata

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

D = b"KRYPT7"


class Refused(Exception):
    """The input is not a valid KRYPT7 object (any reason)."""


def hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def gcm_open(key: bytes, nonce: bytes, aad: bytes, ct: bytes) -> bytes:
    if len(ct) < 16:
        raise Refused("shorter than a tag")
    try:
        return AESGCM(key).decrypt(nonce, ct, aad)
    except InvalidTag as e:
        raise Refused("tag") from e


# §2 Secret Key
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def luhn32(values):
    total, factor = 0, 2
    for v in reversed(values):
        a = factor * v
        total += a // 32 + a % 32
        factor = 1 if factor == 2 else 2
    return (32 - total % 32) % 32


def secret_key_parse(s: str) -> bytes:
    vals = []
    for c in s.upper():
        if c in "- \t":
            continue
        c = {"O": "0", "I": "1", "L": "1"}.get(c, c)
        if c not in ALPHABET:
            raise Refused("bad symbol")
        vals.append(ALPHABET.index(c))
    if vals[:2] != [ALPHABET.index("K"), 1] or len(vals) != 29:
        raise Refused("version or length")
    if luhn32(vals[:28]) != vals[28]:
        raise Refused("check symbol")
    n = 0
    for v in vals[2:28]:
        n = (n << 5) | v
    if n & 3:
        raise Refused("padding")
    return (n >> 2).to_bytes(16, "big")


def secret_key_format(b: bytes) -> str:
    n = int.from_bytes(b, "big") << 2
    data = [(n >> (5 * (25 - i))) & 31 for i in range(26)]
    check = luhn32([ALPHABET.index("K"), 1] + data)
    s = "".join(ALPHABET[v] for v in data) + ALPHABET[check]
    return "K1-" + "-".join([s[:6], s[6:12], s[12:17], s[17:22], s[22:]])


# §3 Key derivation
MIN = (65536, 3, 4)


def open_setup(sealed: bytes, sk: bytes):
    if len(sealed) != 63 or sealed[0] != 1 or sealed[1] != 1 or sealed[14] != 16:
        raise Refused("setup header")
    m, t, p = struct.unpack(">III", sealed[2:14])
    if m < MIN[0] or t < MIN[1] or p < MIN[2] or m > 4 << 20 or t > 64 or p > 64:
        raise Refused("parameters")
    mac_key = hkdf(D, sk, D + b" kdf-setup mac v1", 32)
    mac = hmac.new(mac_key, D + b" kdf-setup v1" + sealed[:31], hashlib.sha256).digest()
    if not hmac.compare_digest(mac, sealed[31:]):
        raise Refused("MAC")
    return m, t, p, sealed[15:31]


def derive(password: str, sk: bytes, setup, purpose: bytes) -> bytes:
    m, t, p, salt = setup
    pw = unicodedata.normalize("NFKD", password).encode()
    a = hash_secret_raw(pw, salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=32, type=Type.ID, version=19)
    return hkdf(salt, a + sk, D + b" 2SKD v1 " + purpose, 32)


# §4 Envelopes
def open_envelope(key: bytes, kind: int, binding: bytes, env: bytes) -> bytes:
    if len(env) < 31 or env[0] != 1 or env[1] != 1 or env[2] != kind:
        raise Refused("envelope header")
    return gcm_open(key, env[3:15], D + env[:3] + binding, env[15:])


def open_item(vault_key: bytes, account: bytes, vault: bytes, item: bytes, sealed: bytes):
    # Kind 0x11: content padded to a size bucket (written today); 0x10: unpadded (older items).
    if len(sealed) < 3 + 12 + 52 + 12 + 16 or sealed[:3] not in (b"\x01\x01\x10", b"\x01\x01\x11"):
        raise Refused("item header")
    h = sealed[:3]
    block = gcm_open(vault_key, sealed[3:15], D + h + b"item-key" + account + vault + item, sealed[15:67])
    item_key, type_and_format = block[:32], block[32:36]
    aad_c = D + h + b"item-content" + account + vault + item + type_and_format
    content = gcm_open(item_key, sealed[67:79], aad_c, sealed[79:])
    if h[2] == 0x11:
        # ISO/IEC 7816-4: the last non-zero byte is the 0x80 end mark.
        end = len(content.rstrip(b"\x00")) - 1
        if end < 0 or content[end] != 0x80:
            raise Refused("item padding")
        content = content[:end]
    t, f = struct.unpack(">HH", type_and_format)
    return t, f, content


# §5 Streams
def open_stream(file_key: bytes, account: bytes, file_id: bytes, s: bytes):
    if len(s) < 24 or s[:4] != b"K7FS" or s[4] != 1 or s[5] != 1 or not 12 <= s[6] <= 24 or s[7] != 0:
        raise Refused("stream header")
    key = AESGCM(hkdf(s[8:24], file_key, D + b" stream v1" + s[:8] + account + file_id, 32))
    size, rest, out, i = 1 << s[6], s[24:], b"", 0
    while True:
        chunk, rest = rest[: size + 16], rest[size + 16 :]
        last = not rest
        if len(chunk) < 16 or (not last and len(chunk) != size + 16) or (last and len(chunk) == 16 and i > 0):
            raise Refused("chunk length")
        try:
            out += key.decrypt(b"\0\0\0" + struct.pack(">Q", i) + bytes([last]), chunk, b"")
        except InvalidTag as e:
            raise Refused("chunk tag") from e
        if last:
            return out, hashlib.sha256(out).hexdigest()
        i += 1


# §6 Public keys
def raw(pub) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verify(pk: bytes, sig: bytes, msg: bytes):
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
    except InvalidSignature as e:
        raise Refused("signature") from e


def open_bundle(bundle: bytes, account: bytes):
    if len(bundle) != 145 or bundle[0] != 1 or bundle[1:17] != account:
        raise Refused("bundle")
    verify(bundle[17:49], bundle[81:], D + b" key-bundle v1" + bundle[:81])
    return bundle[17:49], bundle[49:81]


def fingerprint(spk: bytes, epk: bytes) -> str:
    h = hashlib.sha256(D + b" fingerprint v1" + spk + epk).digest()
    return " ".join("%05d" % (int.from_bytes(h[5 * k : 5 * k + 5], "big") % 100000) for k in range(6))


def labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, b"HPKE-v1" + suite + label + ikm, hashlib.sha256).digest()


def labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    info = struct.pack(">H", length) + b"HPKE-v1" + suite + label + info
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def hpke_open_base(sk_r: X25519PrivateKey, enc: bytes, info: bytes, aad: bytes, ct: bytes) -> bytes:
    """RFC 9180 §5.1 and §4.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, mode_base."""
    kem_suite = b"KEM" + struct.pack(">H", 0x20)
    dh = sk_r.exchange(X25519PublicKey.from_public_bytes(enc))
    kem_context = enc + raw(sk_r.public_key())
    eae_prk = labeled_extract(kem_suite, b"", b"eae_prk", dh)
    shared = labeled_expand(kem_suite, eae_prk, b"shared_secret", kem_context, 32)
    suite = b"HPKE" + struct.pack(">HHH", 0x20, 1, 2)
    psk_id_hash = labeled_extract(suite, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(suite, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = labeled_extract(suite, shared, b"secret", b"")
    key = labeled_expand(suite, secret, b"key", context, 32)
    base_nonce = labeled_expand(suite, secret, b"base_nonce", context, 12)
    return gcm_open(key, base_nonce, aad, ct)


def open_message(kind: int, me: bytes, my_secret: bytes, msg: bytes):
    if len(msg) < 5 or msg[0] != 1 or msg[1] != 1 or msg[2] != kind:
        raise Refused("message header")
    (n,) = struct.unpack(">H", msg[3:5])
    hl = 5 + 96 * n
    if not 1 <= n <= 1024 or len(msg) < hl + 28:
        raise Refused("message length")
    entries = [msg[5 + 96 * i : 5 + 96 * (i + 1)] for i in range(n)]
    mine = next((e for e in entries if e[:16] == me), None)
    if mine is None:
        raise Refused("not a recipient")
    sk = X25519PrivateKey.from_private_bytes(my_secret)
    cek = hpke_open_base(sk, mine[16:48], D + b" seal v1" + msg[:3], me, mine[48:])
    body = gcm_open(cek, msg[hl : hl + 12], D + msg[:hl], msg[hl + 12 :])
    signed, sig = body[:-64], body[-64:]
    sender, sender_key = signed[:16], signed[16:48]
    (rn,) = struct.unpack(">H", signed[48:50])
    end = 50 + 48 * rn
    (clen,) = struct.unpack(">I", signed[end : end + 4])
    if rn != n or len(signed) != end + 4 + clen:
        raise Refused("body")
    recipients = [signed[50 + 48 * i : 50 + 48 * (i + 1)] for i in range(rn)]
    if [r[:16] for r in recipients] != [e[:16] for e in entries]:
        raise Refused("recipient lists differ")
    verify(sender_key, sig, D + b" signed v1" + bytes([kind]) + signed)
    if me + raw(sk.public_key()) not in recipients:
        raise Refused("not named in the signed list")
    return sender, sender_key, signed[end + 4 :]


def check(v: dict):
    x = lambda k: bytes.fromhex(v[k])  # noqa: E731
    t = v["type"]
    if t == "secret_key":
        b = secret_key_parse(v["human"])
        assert b.hex() == v["bytes"] and secret_key_format(b) == v["human"]
    elif t == "kdf_setup":
        sk = secret_key_parse(v["secret_key"])
        setup = open_setup(x("sealed_setup"), sk)
        for field, purpose in [("local_unlock", b"local-unlock"), ("export_file", b"export-file")]:
            assert derive(v["password"], sk, setup, purpose).hex() == v[field], field
    elif t == "keyset_under_auk":
        auk = hkdf(D, x("opaque_export_key"), D + b" AUK v1", 32)
        assert auk.hex() == v["auk"]
        ks = open_envelope(auk, 0x01, x("account"), x("envelope"))
        assert len(ks) == 97 and ks[0] == 1
        assert ks[1:33].hex() == v["account_key"]
        ed = Ed25519PrivateKey.from_private_bytes(ks[33:65])
        assert raw(ed.public_key()).hex() == v["signing_public_key"]
        assert raw(X25519PrivateKey.from_private_bytes(ks[65:97]).public_key()).hex() == v["encryption_public_key"]
    elif t == "vault_key":
        vk = open_envelope(x("account_key"), 0x04, x("account") + x("vault"), x("envelope"))
        assert vk.hex() == v["vault_key"]
    elif t == "item":
        it, fmt, content = open_item(x("vault_key"), x("account"), x("vault"), x("item"), x("sealed"))
        assert (it, fmt, content.hex()) == (v["item_type"], v["format_version"], v["plaintext"])
        if x("sealed")[2] == 0x11:
            # The writer padded to the content's bucket: 256 bytes, then a quarter more each time.
            bucket = 256
            while bucket < len(content) + 1:
                bucket += bucket // 4
            assert len(x("sealed")) == 3 + 12 + 52 + 12 + bucket + 16, "item padded to another size"
    elif t == "stream":
        pt, sha = open_stream(x("file_key"), x("account"), x("file"), x("stream"))
        assert pt.hex() == v["plaintext"] and sha == v["sha256"]
    elif t == "key_bundle":
        spk, epk = open_bundle(x("bundle"), x("account"))
        assert spk.hex() == v["signing_public_key"] and epk.hex() == v["encryption_public_key"]
        assert fingerprint(spk, epk) == v["fingerprint"]
    elif t == "message":
        kind = {"mail": 0x20, "key_share": 0x21}[v["kind"]]
        sender, key, content = open_message(kind, x("recipient"), x("recipient_x25519_secret"), x("message"))
        assert (sender.hex(), key.hex(), content.hex()) == (v["sender"], v["sender_signing_key"], v["content"])
    else:
        raise SystemExit(f"unknown vector type {t}")


def main():
    files = sorted(pathlib.Path(sys.argv[1]).glob("*.json"))
    ok = fail = 0
    for f in files:
        v = json.loads(f.read_text())
        if f.stem.startswith("fail_"):
            try:
                check(v)
            except Refused:
                fail += 1
                continue
            raise SystemExit(f"{f.name}: must be refused, but the second implementation accepted it")
        check(v)
        ok += 1
    if ok == 0 or fail == 0:
        raise SystemExit("no vectors found")
    print(f"second-implementation: {ok} passed, 0 failed")
    print(f"({fail} fail_* vectors refused)")


if __name__ == "__main__":
    main()

"""`orange-proxy ca`: where mitmproxy's CA is, and the files and steps that make clients trust it.

The CA itself is mitmproxy's, made and read by mitmproxy's own `CertStore` exactly as the running proxy
does (same confdir, basename, key size and passphrase options), so the certificate printed here is the
one the proxy signs api.orange.com with. This module only copies its public part into other shapes.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from proxy_addons.messages import say

# mitmproxy's names (mitmproxy.addons.tlsconfig.CONF_BASENAME and the files CertStore.create_store writes).
BASENAME = "mitmproxy"
KEY_FILE = f"{BASENAME}-ca.pem"  # private key + certificate: what the proxy signs with
CERT_FILE = f"{BASENAME}-ca-cert.pem"  # the certificate alone: what clients trust
CER_FILE = f"{BASENAME}-ca-cert.cer"  # the same PEM, named as Android's installer wants it
DEFAULT_CONFDIR = "~/.mitmproxy"
DEFAULT_KEY_SIZE = 2048  # mitmproxy's `key_size` default


class CaError(Exception):
    """Something that keeps the command from doing its job; the message says what to do next."""


@dataclass(frozen=True)
class Authority:
    """The proxy's CA as clients see it."""

    confdir: Path
    certificate: x509.Certificate
    created: bool  # made by this call (the confdir had no CA yet)

    @property
    def cert_file(self) -> Path:
        return self.confdir / CERT_FILE

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex(":").upper()

    @property
    def android_name(self) -> str:
        return f"{subject_hash_old(self.certificate)}.0"


def _check_signing_authority(directory: Path, certificate: x509.Certificate, key: Any) -> None:
    """mitmproxy loads any key and certificate pair; one that cannot sign for hosts would only fail at
    the first client ("no shared cipher"), so say it now."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    mine = key.public_key().public_bytes(serialization.Encoding.DER, spki)
    theirs = certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
    if mine != theirs:
        raise CaError(
            f"{directory / KEY_FILE} holds a key and a certificate that do not belong together; move the "
            f"{BASENAME}-ca* files away to have a new CA made (every client then has to trust the new one)"
        )
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CaError(
            f"the certificate in {directory / KEY_FILE} is not a CA (no basicConstraints CA:TRUE), so the "
            f"proxy could not sign for api.orange.com with it; move the {BASENAME}-ca* files away to have a "
            "new CA made"
        )


def subject_hash_old(certificate: x509.Certificate) -> str:
    """OpenSSL's `x509 -subject_hash_old` (the name Android's system store files carry): the first four
    bytes of the MD5 of the DER-encoded subject, read as a little-endian number, in 8 hex digits."""
    digest = hashlib.md5(certificate.subject.public_bytes(), usedforsecurity=False).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def _mitmproxy_settings(confdir: Path) -> tuple[int, bytes | None]:
    """`key_size` and `cert_passphrase` as the proxy would have them from confdir/config.yaml: a CA made
    here must be the one the proxy would have made, and an encrypted one must open the same way."""
    from mitmproxy import exceptions, optmanager
    from mitmproxy.options import Options

    options = Options()
    try:
        # Unknown keys (our orange_* options) are deferred by mitmproxy, not errors.
        optmanager.load_paths(options, str(confdir / "config.yaml"), str(confdir / "config.yml"))
    except exceptions.OptionsError as exc:
        raise CaError(f"{exc}; fix it, or run with another --confdir") from None
    except OSError as exc:
        raise CaError(f"cannot read {confdir / 'config.yaml'}: {exc.strerror or exc}") from None
    passphrase = options.cert_passphrase.encode() if options.cert_passphrase else None
    return options.key_size or DEFAULT_KEY_SIZE, passphrase


def authority(confdir: str | os.PathLike[str] | None = None) -> Authority:
    """The CA in `confdir` (default ~/.mitmproxy), made there first if it has none, as mitmproxy does."""
    from mitmproxy.certs import CertStore

    directory = Path(confdir or DEFAULT_CONFDIR).expanduser().absolute()
    if directory.exists() and not directory.is_dir():
        raise CaError(
            f"--confdir {directory} is not a directory; "
            f"give the directory that holds (or will hold) {CERT_FILE}"
        )
    created = not (directory / KEY_FILE).exists()
    key_size, passphrase = _mitmproxy_settings(directory) if directory.is_dir() else (DEFAULT_KEY_SIZE, None)
    try:
        store = CertStore.from_store(directory, BASENAME, key_size, passphrase)
    except OSError as exc:
        raise CaError(
            f"cannot use {directory} as the confdir (the CA lives there): {exc.strerror or exc}; "
            "give a writable directory with --confdir"
        ) from None
    except (ValueError, TypeError) as exc:
        # A damaged file, or an encrypted key without (or with the wrong) cert_passphrase.
        raise CaError(
            f"cannot read the CA in {directory / KEY_FILE}: {exc}; set cert_passphrase in "
            f"{directory / 'config.yaml'} if the key is encrypted, or move the {BASENAME}-ca* files away to "
            "have a new CA made (every client then has to trust the new one)"
        ) from None
    certificate = x509.load_pem_x509_certificate(store.default_ca.to_pem())
    _check_signing_authority(directory, certificate, store.default_privatekey)
    found = Authority(directory, certificate, created)
    _check_cert_files(found)
    return found


def _check_cert_files(found: Authority) -> None:
    """The files clients are given must hold the certificate the proxy signs with."""
    for name in (CERT_FILE, CER_FILE):
        path = found.confdir / name
        if not path.exists():
            # mitmproxy writes these only with a new CA; someone removed them: they are public, so put
            # them back from the CA file rather than print a path that does not exist.
            try:
                _write(path, found.pem)
            except OSError as exc:
                raise CaError(
                    f"{path} is missing and cannot be written again: {exc.strerror or exc}; "
                    f"give a writable --confdir"
                ) from None
            print(say(f"{path} was missing: written again from {KEY_FILE}"), file=sys.stderr)
            continue
        try:
            given = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError):
            given = None
        if given != found.certificate:
            raise CaError(
                f"{path} is not the certificate of the CA in {found.confdir / KEY_FILE} (the one the proxy "
                f"signs with), so clients trusting it would fail; remove {path} and run `orange-proxy ca` "
                "again to have it written from the CA"
            )


def _write(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all (a half-written bundle would fail in confusing ways)."""
    if not path.parent.is_dir():
        # A mistyped directory must not quietly grow a tree somewhere unexpected.
        raise FileNotFoundError(errno.ENOENT, f"no directory {path.parent} (create it first)")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # certificates are public; mkstemp's 0600 would hide them from adb/CI
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bundle(found: Authority, target: Path) -> Path:
    """`target` = the proxy's CA, then certifi's roots: one file for clients that reach the intercept hosts
    through the proxy and other hosts (passed through, with their real certificates) too."""
    import certifi

    if target.is_dir():
        raise CaError(f"--bundle {target} is a directory; give a file name, e.g. {target / 'ca-bundle.pem'}")
    roots = Path(certifi.where()).read_bytes()
    header = (
        f"# orange-camara-proxy: the proxy's CA ({found.cert_file}), SHA-256 {found.fingerprint}\n".encode()
    )
    try:
        _write(target, header + found.pem + b"\n# certifi's root certificates\n" + roots)
    except OSError as exc:
        raise CaError(
            f"cannot write the bundle {target}: {exc.strerror or exc}; choose another path"
        ) from None
    return target


def write_android(found: Authority, directory: Path) -> Path:
    """directory/<subject_hash_old>.0, the file an Android system store holds per CA. Android reads the
    PEM block; the `openssl x509 -text` dump its own files carry after it is for people, so PEM alone."""
    if directory.exists() and not directory.is_dir():
        raise CaError(f"--android {directory} is not a directory; give the directory to write the .0 file in")
    target = directory / found.android_name
    try:
        directory.mkdir(parents=True, exist_ok=True)  # an output directory, made as asked
        _write(target, found.pem)
    except OSError as exc:
        raise CaError(
            f"cannot write {target}: {exc.strerror or exc}; choose another --android directory"
        ) from None
    return target


NETWORK_SECURITY_CONFIG = """\
<network-security-config>
  <debug-overrides>
    <trust-anchors>
      <certificates src="user"/>
    </trust-anchors>
  </debug-overrides>
</network-security-config>"""


def install_steps(found: Authority, android_file: Path | None) -> str:
    """How to make each kind of client trust the CA, with this CA's own paths and file names."""
    pem, cer = found.cert_file, found.confdir / CER_FILE
    system = android_file or Path("DIR") / found.android_name
    make_system = (
        "" if android_file else f"orange-proxy ca --android DIR     # writes DIR/{found.android_name}\n    "
    )
    config = "\n".join("      " + line for line in NETWORK_SECURITY_CONFIG.splitlines())
    return f"""\
The proxy's CA (mitmproxy's), valid until {found.certificate.not_valid_after_utc:%Y-%m-%d},
SHA-256 {found.fingerprint}.
Clients must trust it to reach the intercept hosts (api.orange.com) through the proxy; other hosts pass
through with their own certificates.

Any device whose traffic goes through the proxy: http://mitm.it (the proxy serves it) has this CA and
per-platform steps.

Programs:
  curl --cacert {pem} ...
  requests: session.verify = "{pem}"
  clients that reach other hosts too: orange-proxy ca --bundle ca-bundle.pem, then trust that file

Android app, user CA (debug builds; apps targeting API 24+ trust user CAs only if they say so):
  1. adb push {cer} /sdcard/Download/     (or download it from http://mitm.it)
  2. Settings › Security › Encryption & credentials › Install a certificate › CA certificate
  3. In the app, res/xml/network_security_config.xml:
{config}
     and android:networkSecurityConfig="@xml/network_security_config" on <application> in the manifest.

Android emulator, system store (every app, no app change; images up to API 33: Android 14 reads its
system CAs from the Conscrypt APEX instead):
    {make_system}emulator -avd NAME -writable-system
    adb root && adb shell avbctl disable-verification && adb reboot    # Android 10+, once
    adb root && adb remount
    adb push {system} /system/etc/security/cacerts/{found.android_name}
    adb shell chmod 644 /system/etc/security/cacerts/{found.android_name} && adb reboot

iOS device:
  1. open http://mitm.it in Safari through the proxy, download the profile, and install it in
     Settings › General › VPN & Device Management
  2. turn on full trust for "mitmproxy" in Settings › General › About › Certificate Trust Settings
iOS simulator: xcrun simctl keychain booted add-root-cert {pem}
"""


EXPIRY_WARNING_DAYS = 30  # a CA closer than this to its end gets a warning: time to renew it calmly


def validity_warning(found: Authority, now: datetime) -> str | None:
    """A warning line for a CA clients refuse now or soon (expired, expiring within 30 days, not yet
    valid), with what to do; None for a CA good for longer."""
    start, end = found.certificate.not_valid_before_utc, found.certificate.not_valid_after_utc
    # mitmproxy makes a new CA when its key file is missing; it rewrites every other file with it.
    renew = (
        f"to get a new one, delete {found.confdir / f'{BASENAME}-ca*.pem'} and run `orange-proxy ca` (or "
        "start the proxy) again; every device and client must then trust the new CA"
    )
    if now < start:
        return (
            f"warning: this CA is not valid before {start:%Y-%m-%d %H:%M} UTC, and clients refuse it until "
            f"then: check this machine's clock (now {now:%Y-%m-%d %H:%M} UTC); if the clock is right, {renew}"
        )
    if end <= now:
        return f"warning: this CA expired on {end:%Y-%m-%d %H:%M} UTC, and clients refuse it; {renew}"
    left = end - now
    if left < timedelta(days=EXPIRY_WARNING_DAYS):
        days = left.days
        when = "in less than a day" if days == 0 else f"in {days} day{'s' if days > 1 else ''}"
        return (
            f"warning: this CA expires on {end:%Y-%m-%d %H:%M} UTC ({when}); clients will refuse it then; "
            f"{renew}"
        )
    return None


def run(args: argparse.Namespace) -> int:
    """The `orange-proxy ca` command: the CA path on the first line of stdout, then what was written and
    the install steps (all but the path left out with --quiet)."""
    try:
        found = authority(args.confdir)
        bundle = write_bundle(found, Path(args.bundle).expanduser().absolute()) if args.bundle else None
        android = write_android(found, Path(args.android).expanduser().absolute()) if args.android else None
    except CaError as exc:
        print(say(str(exc)), file=sys.stderr)
        return 2
    print(found.cert_file, flush=True)
    warning = validity_warning(found, datetime.now(UTC))
    if warning:
        print(say(warning), file=sys.stderr, flush=True)  # stderr: `CA=$(orange-proxy ca -q)` keeps the path
    if args.quiet:
        return 0
    if found.created:
        print(f"a new CA was made in {found.confdir} (mitmproxy's, as the proxy would on its first start)")
    if bundle:
        print(f"bundle (this CA, then certifi's roots): {bundle}")
    if android:
        print(f"Android system store file: {android}")
    print()
    print(install_steps(found, android), end="")
    return 0

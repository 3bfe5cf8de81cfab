"""`orange-proxy ca`: the CA path (mitmproxy's CA, made as mitmproxy makes it), a bundle with certifi's
roots, the Android system-store file, install steps, and clear errors with exit status 2."""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import certifi
import pytest
import requests
from conftest import orange_proxy_command
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from flows import playground_token
from mitmproxy.certs import CertStore

from proxy_addons.ca import subject_hash_old

CA_FILES = [
    "mitmproxy-ca.pem",
    "mitmproxy-ca.p12",
    "mitmproxy-ca-cert.pem",
    "mitmproxy-ca-cert.cer",
    "mitmproxy-ca-cert.p12",
    "mitmproxy-dhparam.pem",
]


def ca(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*orange_proxy_command(), "ca", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def refused(result: subprocess.CompletedProcess, *words: str, usage: bool = False) -> None:
    """Exit status 2 with one clear message naming the problem, never a traceback (argparse's own
    errors, `usage`, are one line too, named after the command)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("orange-proxy ca: " if usage else "orange-proxy: "), result.stderr
    if usage:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == "", result.stdout
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def openssl_hash(path: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-subject_hash_old", "-noout", "-in", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# The CA itself -------------------------------------------------------------------------------------


def test_a_new_confdir_gets_mitmproxys_ca_and_the_proxy_signs_with_it(tmp_path, proxy_factory):
    confdir = tmp_path / "conf"
    result = ca("--confdir", str(confdir), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = Path(result.stdout.strip())
    assert result.stdout == f"{confdir / 'mitmproxy-ca-cert.pem'}\n"  # the path alone: CA=$(... -q)
    assert sorted(p.name for p in confdir.iterdir()) == sorted(CA_FILES)  # mitmproxy's whole set
    made = printed.read_bytes()
    issued = certificate(printed)
    assert issued.subject.rfc4514_string() == "O=mitmproxy,CN=mitmproxy"
    assert issued.public_key().key_size == 2048

    # A proxy started on that confdir uses this CA (it makes no other) and clients trusting it get in.
    running = proxy_factory("--confdir", str(confdir))
    assert running.ca == printed
    session = running.session()
    session.verify = str(printed)
    assert playground_token(session)  # api.orange.com answered through TLS signed by that CA
    assert printed.read_bytes() == made


def test_the_ca_of_a_running_proxy_is_printed_as_is(tmp_path, proxy_factory):
    running = proxy_factory()
    before = running.ca.read_bytes()
    result = ca("--confdir", str(running.ca.parent), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(running.ca)
    assert "a new CA was made" not in result.stdout
    assert running.ca.read_bytes() == before
    fingerprint = certificate(running.ca).fingerprint(hashes.SHA256()).hex(":").upper()
    assert f"SHA-256 {fingerprint}" in result.stdout


def test_a_relative_confdir_prints_an_absolute_path(tmp_path):
    result = ca("--confdir", "rel/conf", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "rel" / "conf" / "mitmproxy-ca-cert.pem")
    assert Path(result.stdout.strip()).is_file()


def test_default_confdir_is_mitmproxys(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    result = ca("-q", cwd=tmp_path, env={**os.environ, "HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(home / ".mitmproxy" / "mitmproxy-ca-cert.pem")


def test_config_yaml_key_size_and_passphrase_are_honoured_as_the_proxy_would(tmp_path):
    confdir = tmp_path / "conf"
    confdir.mkdir()
    (confdir / "config.yaml").write_text("key_size: 3072\norange_profile: camara\n")
    result = ca("--confdir", str(confdir), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert certificate(confdir / "mitmproxy-ca-cert.pem").public_key().key_size == 3072

    # An encrypted CA key opens only with mitmproxy's cert_passphrase from config.yaml.
    locked = tmp_path / "locked"
    CertStore.create_store(locked, "mitmproxy", 2048)
    raw = (locked / "mitmproxy-ca.pem").read_bytes()
    key = serialization.load_pem_private_key(raw, None)
    (locked / "mitmproxy-ca.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
        + certificate(locked / "mitmproxy-ca-cert.pem").public_bytes(serialization.Encoding.PEM)
    )
    refused(ca("--confdir", str(locked), cwd=tmp_path), "cannot read the CA", "cert_passphrase")
    (locked / "config.yaml").write_text("cert_passphrase: s3cret\n")
    result = ca("--confdir", str(locked), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(locked / "mitmproxy-ca-cert.pem")


def test_a_missing_certificate_file_is_written_again_from_the_ca(tmp_path):
    confdir = tmp_path / "conf"
    assert ca("--confdir", str(confdir), "-q", cwd=tmp_path).returncode == 0
    original = (confdir / "mitmproxy-ca-cert.pem").read_bytes()
    (confdir / "mitmproxy-ca-cert.pem").unlink()
    result = ca("--confdir", str(confdir), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "was missing" in result.stderr
    assert (confdir / "mitmproxy-ca-cert.pem").read_bytes() == original


def test_a_certificate_file_of_another_ca_is_refused(tmp_path, tls_files):
    confdir = tmp_path / "conf"
    assert ca("--confdir", str(confdir), "-q", cwd=tmp_path).returncode == 0
    (confdir / "mitmproxy-ca-cert.pem").write_bytes(tls_files[0].read_bytes())
    refused(
        ca("--confdir", str(confdir), cwd=tmp_path),
        f"{confdir / 'mitmproxy-ca-cert.pem'} is not the certificate of the CA",
        "remove",
    )


# Install steps -------------------------------------------------------------------------------------


def test_install_steps_name_this_cas_files(tmp_path):
    confdir = tmp_path / "conf"
    result = ca("--confdir", str(confdir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    pem = confdir / "mitmproxy-ca-cert.pem"
    name = f"{openssl_hash(pem)}.0"
    assert out.splitlines()[0] == str(pem)
    assert f"a new CA was made in {confdir}" in out
    assert "http://mitm.it" in out
    # Android, user CA: the cer file to push, and a debug-only network_security_config.
    assert f"adb push {confdir / 'mitmproxy-ca-cert.cer'} /sdcard/Download/" in out
    end = "</network-security-config>"
    config = ElementTree.fromstring(out[out.index("<network-security-config>") : out.index(end) + len(end)])
    anchors = config.find("debug-overrides/trust-anchors")  # debug builds only, never release ones
    assert anchors is not None and config.find("base-config") is None
    assert [(c.tag, c.attrib) for c in anchors] == [("certificates", {"src": "user"})]
    assert 'android:networkSecurityConfig="@xml/network_security_config"' in out
    # Android emulator: the --android file under its real name, in the system store.
    assert f"orange-proxy ca --android DIR     # writes DIR/{name}" in out
    assert f"/system/etc/security/cacerts/{name}" in out
    assert "-writable-system" in out
    # iOS: the profile, then full trust.
    assert "Settings › General › About › Certificate Trust Settings" in out
    assert f"xcrun simctl keychain booted add-root-cert {pem}" in out


def test_help_explains_every_flag_with_an_example(tmp_path):
    result = subprocess.run(
        [*orange_proxy_command(), "ca", "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for flag, example in [
        ("--confdir DIR", "e.g. --confdir ./proxy-conf"),
        ("--bundle FILE", "e.g. --bundle ca-bundle.pem"),
        ("--android DIR", "e.g. --android ./android-ca"),
        ("-q, --quiet", "e.g. CA=$(orange-proxy ca -q)"),
    ]:
        assert flag in text and example in text, (flag, example, text)
    top = subprocess.run(
        [*orange_proxy_command(), "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert " ca " in top.stdout and "print the path of the CA clients must trust" in top.stdout


# --android ---------------------------------------------------------------------------------------


def test_android_file_is_named_by_openssls_old_subject_hash(tmp_path):
    confdir, target = tmp_path / "conf", tmp_path / "out" / "android"
    result = ca("--confdir", str(confdir), "--android", str(target), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pem = confdir / "mitmproxy-ca-cert.pem"
    expected = target / f"{openssl_hash(pem)}.0"
    assert sorted(target.iterdir()) == [expected]
    assert f"Android system store file: {expected}" in result.stdout
    assert f"adb push {expected} /system/etc/security/cacerts/{expected.name}" in result.stdout
    # PEM alone (Android reads the PEM block): the CA, and openssl names the file the same way.
    assert certificate(expected) == certificate(pem)
    assert expected.read_bytes() == pem.read_bytes()
    assert openssl_hash(expected) == expected.stem
    assert oct(expected.stat().st_mode & 0o777) == "0o644"


def test_subject_hash_old_matches_openssl_for_other_subjects(tls_files, tmp_path):
    # Every mitmproxy CA has the same subject, so check the computation on others too.
    cert = tmp_path / "other.pem"
    CertStore.create_store(
        tmp_path / "other", "orange lab", 2048, organization="Orange Ça Test", cn="Ünïcode"
    )
    cert.write_bytes((tmp_path / "other" / "orange lab-ca-cert.pem").read_bytes())
    for path in (tls_files[0], cert):
        assert subject_hash_old(certificate(path)) == openssl_hash(path)
    assert subject_hash_old(certificate(tls_files[0])) != subject_hash_old(certificate(cert))


# --bundle ----------------------------------------------------------------------------------------


def pem_certificates(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def pem_blocks(path: Path) -> list[bytes]:
    """The DER of every PEM certificate block in a file, in order (as OpenSSL reads a CA file)."""
    text = path.read_text(encoding="ascii")
    return [
        base64.b64decode(block.split("-----END CERTIFICATE-----")[0])
        for block in text.split("-----BEGIN CERTIFICATE-----")[1:]
    ]


def test_bundle_is_the_ca_then_certifis_roots(tmp_path):
    confdir, bundle = tmp_path / "conf", tmp_path / "ca-bundle.pem"
    result = ca("--confdir", str(confdir), "--bundle", "ca-bundle.pem", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"bundle (this CA, then certifi's roots): {bundle}" in result.stdout
    found = pem_blocks(bundle)
    roots = pem_blocks(Path(certifi.where()))
    assert len(roots) > 50
    ours = certificate(confdir / "mitmproxy-ca-cert.pem")
    assert x509.load_der_x509_certificate(found[0]) == ours
    assert found[1:] == roots
    # The whole file parses as Python's ssl (OpenSSL) reads it for requests and httpx: every block is a CA.
    # (Not cryptography: certifi carries a root with a negative serial, which it warns about.)
    context = ssl.create_default_context(cafile=str(bundle))
    assert context.cert_store_stats()["x509_ca"] == len(found)
    assert ours.fingerprint(hashes.SHA256()).hex(":").upper() in bundle.read_text().splitlines()[0]


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"the other host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def other_host(tls_files) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 whose certificate is a 'public root' (see fake_certifi)."""
    cert, key = tls_files
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def fake_certifi(tmp_path: Path, roots: Path) -> dict[str, str]:
    """An environment in which `certifi.where()` is `roots`: no public host can be reached offline, so
    the test's own server plays one, its certificate standing for certifi's roots."""
    package = tmp_path / "fake" / "certifi"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"def where():\n    return {str(roots)!r}\n")
    path = [str(package.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def test_bundle_reaches_the_proxy_and_hosts_passed_through(tmp_path, proxy_factory, tls_files, other_host):
    running = proxy_factory()
    bundle = tmp_path / "bundle.pem"
    env = fake_certifi(tmp_path, tls_files[0])
    result = ca("--confdir", str(running.ca.parent), "--bundle", str(bundle), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert pem_certificates(bundle) == [certificate(running.ca), certificate(tls_files[0])]

    def session(verify: Path) -> requests.Session:
        s = running.session()
        s.verify = str(verify)
        return s

    other = f"https://127.0.0.1:{other_host}/"
    good = session(bundle)
    assert playground_token(good)  # api.orange.com, synthesised: chains to the proxy's CA
    assert good.get(other).text == "the other host"  # passed through: chains to a "certifi" root
    # Each half alone is not enough: the bundle is what makes both work.
    with pytest.raises(requests.exceptions.SSLError):
        session(running.ca).get(other)
    with pytest.raises(requests.exceptions.SSLError):
        playground_token(session(tls_files[0]))


# Errors ------------------------------------------------------------------------------------------


def test_bad_places_are_refused_with_exit_status_2(tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("not a directory")
    good = tmp_path / "conf"
    refused(ca("--confdir", str(afile), cwd=tmp_path), f"--confdir {afile} is not a directory")
    refused(ca("--confdir", str(afile / "conf"), cwd=tmp_path), f"cannot use {afile / 'conf'} as the confdir")
    refused(
        ca("--confdir", str(good), "--bundle", str(afile / "b.pem"), cwd=tmp_path),
        f"cannot write the bundle {afile / 'b.pem'}",
        "choose another path",
    )
    refused(ca("--confdir", str(good), "--bundle", str(tmp_path), cwd=tmp_path), "is a directory")
    refused(
        ca("--confdir", str(good), "--android", str(afile), cwd=tmp_path),
        f"--android {afile} is not a directory",
    )
    refused(
        ca("--confdir", str(good), "--android", str(afile / "x"), cwd=tmp_path),
        "cannot write",
        "choose another --android directory",
    )
    refused(
        ca("--confdir", str(good), "--bogus", cwd=tmp_path), "unrecognized arguments: --bogus", usage=True
    )
    # Nothing half-written is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "conf"]


def test_a_damaged_ca_is_refused_with_what_to_do(tmp_path):
    confdir = tmp_path / "conf"
    confdir.mkdir()
    (confdir / "mitmproxy-ca.pem").write_text("garbage")
    refused(ca("--confdir", str(confdir), cwd=tmp_path), "cannot read the CA", "move the mitmproxy-ca* files")
    (confdir / "mitmproxy-ca.pem").unlink()
    (confdir / "config.yaml").write_text("key_size: [1\n")
    refused(ca("--confdir", str(confdir), cwd=tmp_path), "config.yaml")


def test_fingerprint_printed_is_the_files(tmp_path):
    confdir = tmp_path / "conf"
    result = ca("--confdir", str(confdir), cwd=tmp_path)
    der = certificate(confdir / "mitmproxy-ca-cert.pem").public_bytes(serialization.Encoding.DER)
    assert f"SHA-256 {hashlib.sha256(der).digest().hex(':').upper()}" in result.stdout


def test_a_bundle_in_a_directory_that_does_not_exist_is_refused(tmp_path):
    """A mistyped directory must not be created: the file would land somewhere unexpected."""
    target = tmp_path / "no" / "such" / "dir" / "bundle.pem"
    result = subprocess.run(
        [*orange_proxy_command(), "ca", "--confdir", str(tmp_path / "conf"), "--bundle", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot write the bundle" in result.stderr and "create it first" in result.stderr
    assert not (tmp_path / "no").exists()


def _pem_pair(key_of_cert, key_in_file, ca: bool) -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-mitmproxy")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key_of_cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key_of_cert, hashes.SHA256())
    )
    key_pem = key_in_file.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("case", "words"),
    [("mismatch", "do not belong together"), ("leaf", "is not a CA")],
)
def test_a_ca_that_cannot_sign_is_refused(tmp_path, case, words):
    """mitmproxy would load it and every TLS handshake would fail later ("no shared cipher")."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    one = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048) if case == "mismatch" else one
    confdir = tmp_path / "conf"
    confdir.mkdir()
    (confdir / "mitmproxy-ca.pem").write_bytes(_pem_pair(other, one, ca=case != "leaf"))
    result = subprocess.run(
        [*orange_proxy_command(), "ca", "--confdir", str(confdir)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr

"""`orange-proxy ca` warns of a CA that clients refuse now or soon (expired, expiring within 30 days,
not yet valid), says when and what to do, and following that advice gives a new CA."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from conftest import run_orange_proxy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def ca(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_orange_proxy("ca", *args, cwd=cwd)


def make_ca(confdir: Path, not_before: dt.datetime, not_after: dt.datetime) -> x509.Certificate:
    """A CA of our own making in mitmproxy's files, valid from `not_before` to `not_after`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "short-lived test CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    confdir.mkdir(parents=True, exist_ok=True)
    (confdir / "mitmproxy-ca.pem").write_bytes(key_pem + pem)
    (confdir / "mitmproxy-ca-cert.pem").write_bytes(pem)
    (confdir / "mitmproxy-ca-cert.cer").write_bytes(pem)
    return cert


NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (NOW - 300 * DAY, NOW + 10 * DAY + HOUR, ["this CA expires on", "UTC (in 10 days)"]),
        (NOW - 300 * DAY, NOW + 2 * HOUR, ["this CA expires on", "(in less than a day)"]),
        (NOW - 400 * DAY, NOW - 3 * DAY, ["this CA expired on", "clients refuse it"]),
        (NOW + 2 * DAY, NOW + 400 * DAY, ["this CA is not valid before", "check this machine's clock"]),
    ],
)
@pytest.mark.parametrize("quiet", [False, True])
def test_a_ca_clients_refuse_now_or_soon_gets_a_warning(tmp_path, start, end, words, quiet):
    confdir = tmp_path / "conf"
    cert = make_ca(confdir, start, end)
    result = ca("--confdir", str(confdir), *(["--quiet"] if quiet else []), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(confdir / "mitmproxy-ca-cert.pem")
    if quiet:
        assert result.stdout.strip() == str(confdir / "mitmproxy-ca-cert.pem")  # `CA=$(…)` stays a path
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("orange-proxy: warning: ")
    for part in words:
        assert part in line, line
    when = cert.not_valid_before_utc if "not valid before" in line else cert.not_valid_after_utc
    assert f"{when:%Y-%m-%d %H:%M} UTC" in line
    assert f"delete {confdir}/mitmproxy-ca*.pem and run `orange-proxy ca`" in line
    assert "must then trust the new CA" in line


def test_a_ca_good_for_more_than_30_days_gets_no_warning(tmp_path):
    confdir = tmp_path / "conf"
    make_ca(confdir, NOW - DAY, NOW + 31 * DAY)
    result = ca("--confdir", str(confdir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_following_the_advice_gives_a_new_ca(tmp_path):
    confdir = tmp_path / "conf"
    old = make_ca(confdir, NOW - 400 * DAY, NOW + 5 * DAY)
    assert "expires on" in ca("--confdir", str(confdir), cwd=tmp_path).stderr
    for stale in confdir.glob("mitmproxy-ca*.pem"):  # what the warning says to delete
        stale.unlink()
    result = ca("--confdir", str(confdir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no warning, no complaint about the files left (.cer, .p12)
    assert f"a new CA was made in {confdir}" in result.stdout
    new = x509.load_pem_x509_certificate((confdir / "mitmproxy-ca-cert.pem").read_bytes())
    assert new != old
    assert new.not_valid_after_utc - NOW > dt.timedelta(days=300)
    for name in ("mitmproxy-ca-cert.cer", "mitmproxy-ca.pem"):  # every file holds the new CA
        assert new.public_bytes(serialization.Encoding.PEM) in (confdir / name).read_bytes()

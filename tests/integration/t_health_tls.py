"""health_check type tls against `openssl s_server`: without `verify` any
certificate passes (expired too); with `verify: CA-FILE` and `host` the
chain, the dates and the name are checked, so an expired certificate or a
wrong name is a failed check with the reason in `show servers`; a server
that does not speak TLS fails the handshake; a CA file that cannot be read
is a configuration error (--check)."""
import sys, os, datetime
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import *
from tlsutil import have_openssl, SServer


def make_pki(t):
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        raise Skip("python3-cryptography not installed")
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(k, path):
        with open(path, "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))

    def write_cert(c, path):
        with open(path, "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.PEM))

    cak = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(cak.public_key()).serial_number(1)
          .not_valid_before(now - 10 * day).not_valid_after(now + 10 * day)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(cak, hashes.SHA256()))
    write_cert(ca, t.path("ca.pem"))
    out = {}
    for label, nb, na in (("valid", now - day, now + day), ("expired", now - 5 * day, now - 2 * day)):
        k = ec.generate_private_key(ec.SECP256R1())
        c = (x509.CertificateBuilder().subject_name(name("db.internal")).issuer_name(name("test CA"))
             .public_key(k.public_key()).serial_number(10 + len(out))
             .not_valid_before(nb).not_valid_after(na)
             .add_extension(x509.SubjectAlternativeName([x509.DNSName("db.internal")]), critical=False)
             .sign(cak, hashes.SHA256()))
        write_cert(c, t.path(label + ".pem"))
        write_key(k, t.path(label + ".key"))
        out[label] = (t.path(label + ".pem"), t.path(label + ".key"))
    return t.path("ca.pem"), out


def test(t):
    have_openssl()
    ca, certs = make_pki(t)
    valid = SServer(t, "valid", *certs["valid"])
    expired = SServer(t, "expired", *certs["expired"])
    plain = t.identify_backend("PLAIN")
    port = free_port()
    sock = t.path("admin.sock")
    hc = "interval: 300ms, timeout: 1s, rise: 1, fall: 1"
    cfg = """\
global:
  admin_socket: %(sock)s
listeners:
  front: {bind: "127.0.0.1:%(port)d", pool: noverify}
pools:
  noverify:
    health_check: {type: tls, %(hc)s}
    servers:
      - {address: "%(expired)s", name: expired}
      - {address: "%(plain)s", name: plain}
  verify:
    health_check: {type: tls, verify: "%(ca)s", host: db.internal, %(hc)s}
    servers:
      - {address: "%(valid)s", name: valid}
      - {address: "%(expired)s", name: expired}
  wrongname:
    health_check: {type: tls, verify: "%(ca)s", host: other.internal, %(hc)s}
    servers:
      - {address: "%(valid)s", name: valid}
""" % dict(sock=sock, port=port, hc=hc, ca=ca, valid=valid.hostport,
           expired=expired.hostport, plain=plain.hostport)

    # A CA file that is not there: --check names the key and the file.
    bad = t.write("bad.yaml", cfg.replace(ca, t.path("nope.pem")))
    rc, _, err = t.run_tcplb(["--check", "-c", bad])
    t.eq(rc, 78, "--check with a missing CA file: %r" % err)
    t.check(re.search(r"pools\.verify\.health_check\.verify: .*nope\.pem", err),
            "error does not name the key and file: %r" % err)

    lb = t.start_config(cfg)
    want = {
        ("noverify", "expired"): ("up", r"^TLSv1\.3 handshake ok$"),
        ("noverify", "plain"): ("down", r"^TLS handshake: "),
        ("verify", "valid"): ("up", r"^TLSv1\.3 handshake ok$"),
        ("verify", "expired"): ("down", r"^certificate: certificate has expired$"),
        ("wrongname", "valid"): ("down", r"^certificate: .*(hostname|name) mismatch"),
    }
    got = {}

    def settled():
        got.clear()
        for s in admin_json(sock, "show servers")["servers"]:
            lc = s["last_check"]
            got[(s["pool"], s["server"])] = (s["health"], lc["result"] if lc else "")
        return all(k in got and got[k][0] == v[0] and re.search(v[1], got[k][1])
                   for k, v in want.items())
    ok = wait_until(settled, timeout=8)
    for k in sorted(want):
        t.log(k, "want", want[k], "got", got.get(k))
    t.check(ok, "TLS check outcomes differ")
    m = admin_send(sock, "show servers verify")
    t.check("certificate:_certificate_has_expired" in m, "text form: %r" % m)
    t.check(lb.alive(), "tcplb died")


if __name__ == "__main__":
    run(test)

"""A throwaway X.509 PKI for the diracsh demo service and the tests.

Built with the ``cryptography`` package: a CA, host and user certificates
(:mod:`.certs`), RFC 3820 proxy certificates as DIRAC uses them
(:mod:`.proxies`), OpenSSL subject hashes and DIRAC DNs (:mod:`.names`), CA
directories for ``capath`` (:mod:`.cadir`) and the demo PKI on disk
(:mod:`.demo`). None of it protects anything real: keys are unencrypted and
the CA key is never written to disk.
"""

from diracsh.server.pki.cadir import write_ca_dir, write_private
from diracsh.server.pki.certs import Issued, issue_host, issue_user, make_ca
from diracsh.server.pki.demo import DemoPKI, ensure_demo_pki
from diracsh.server.pki.names import dn_string, subject_hash
from diracsh.server.pki.proxies import (
    ID_PPL_INHERIT_ALL,
    ID_PPL_LIMITED,
    PROXY_CERT_INFO_OID,
    make_proxy,
    proxy_file_bytes,
    proxy_policy_language,
)

__all__ = [
    "ID_PPL_INHERIT_ALL",
    "ID_PPL_LIMITED",
    "PROXY_CERT_INFO_OID",
    "DemoPKI",
    "Issued",
    "dn_string",
    "ensure_demo_pki",
    "issue_host",
    "issue_user",
    "make_ca",
    "make_proxy",
    "proxy_file_bytes",
    "proxy_policy_language",
    "subject_hash",
    "write_ca_dir",
    "write_private",
]

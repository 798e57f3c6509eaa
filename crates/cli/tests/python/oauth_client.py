"""A SMART Backend Services client against webqx-sec, written with the libraries EHR
integrations use: authlib builds the private_key_jwt client assertion (ES384, as SMART
asks clients to support), PyJWT (with cryptography) verifies the access token against
our JWKS, fetched with PyJWKClient over HTTPS with our CA.

Steps: register the client "python-bulk-export" through the API (admin token), get a
token, verify it offline, introspect it (active), revoke it, introspect it (inactive).
Prints one JSON line of what it saw; exits non-zero on any surprise.

Environment: WEBQX_ADDR (https://127.0.0.1:PORT), WEBQX_CACERT, WEBQX_TOKEN (admin).
Only 127.0.0.1 is contacted; proxies are bypassed.
"""

import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings

warnings.simplefilter("ignore")  # authlib.jose announces its successor, joserfc

import jwt  # PyJWT
from authlib.jose import JsonWebKey
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ADDR = os.environ["WEBQX_ADDR"]
CONTEXT = ssl.create_default_context(cafile=os.environ["WEBQX_CACERT"])
ADMIN = os.environ["WEBQX_TOKEN"]
OPENER = urllib.request.build_opener(
    urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=CONTEXT)
)


def call(path, data=None, headers=None, form=False):
    """Sends a request; returns (status, parsed JSON)."""
    body = None
    headers = dict(headers or {})
    if data is not None and form:
        body = urllib.parse.urlencode(data).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(ADDR + path, data=body, headers=headers)
    try:
        with OPENER.open(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


def expect(condition, what):
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def main():
    metadata = call("/.well-known/oauth-authorization-server")[1]
    token_endpoint = metadata["token_endpoint"]
    expect("private_key_jwt" in metadata["token_endpoint_auth_methods_supported"], "metadata")

    # A key whose x or y begins with a zero byte: authlib writes such a coordinate a
    # byte short (RFC 7518 wants 48 bytes for P-384), which the server must accept.
    # One key in 128 is like this; the loop makes every run test it.
    while True:
        key = ec.generate_private_key(ec.SECP384R1())
        numbers = key.public_key().public_numbers()
        if min(numbers.x.bit_length(), numbers.y.bit_length()) <= 47 * 8:
            break
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = JsonWebKey.import_key(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        {"kty": "EC"},
    ).as_dict()
    public.update({"kid": "python-es384-1", "alg": "ES384", "use": "sig"})

    status, created = call(
        "/v1/oauth/clients",
        {
            "name": "python-bulk-export",
            "auth_method": "private_key_jwt",
            "jwks": {"keys": [public]},
            "scopes": ["system/*.rs"],
            "audience": "https://fhir.ehr.test",
        },
        {"Authorization": f"Bearer {ADMIN}"},
    )
    expect(status == 201, f"registration answered {status}: {created}")
    client_id = created["client"]["id"]

    def assertion():
        signed = private_key_jwt_sign(
            private_pem,
            client_id,
            token_endpoint,
            alg="ES384",
            header={"kid": "python-es384-1", "typ": "JWT"},
            expires_in=300,
        )
        return signed.decode() if isinstance(signed, bytes) else signed

    def client_auth():
        return {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(),
        }

    status, issued = call(
        "/oauth/token",
        {"grant_type": "client_credentials", "scope": "system/Observation.rs", **client_auth()},
        form=True,
    )
    expect(status == 200, f"token endpoint answered {status}: {issued}")
    access_token = issued["access_token"]

    header = jwt.get_unverified_header(access_token)
    jwks = jwt.PyJWKClient(metadata["jwks_uri"], ssl_context=CONTEXT)
    signing_key = jwks.get_signing_key_from_jwt(access_token)
    claims = jwt.decode(
        access_token,
        signing_key.key,
        algorithms=[header["alg"]],
        audience="https://fhir.ehr.test",
        issuer=metadata["issuer"],
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )
    expect(header["typ"].lower() == "at+jwt", f"typ {header['typ']}")
    expect(claims["client_id"] == client_id and claims["sub"] == client_id, "sub/client_id")
    expect(claims["scope"] == "system/Observation.rs", f"scope {claims['scope']}")

    status, active = call("/oauth/introspect", {"token": access_token, **client_auth()}, form=True)
    expect(status == 200 and active["active"] is True, f"introspection: {status} {active}")

    status, revoked = call("/oauth/revoke", {"token": access_token, **client_auth()}, form=True)
    expect(status == 200, f"revocation answered {status}: {revoked}")

    status, inactive = call(
        "/oauth/introspect", {"token": access_token, **client_auth()}, form=True
    )
    expect(status == 200 and inactive == {"active": False}, f"after revocation: {inactive}")

    print(
        json.dumps(
            {
                "client_id": client_id,
                "alg": header["alg"],
                "kid": header["kid"],
                "verified_scope": claims["scope"],
                "active_before": active["active"],
                "active_after": inactive["active"],
                "pyjwt": jwt.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()

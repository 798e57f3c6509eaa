"""PyJWT (PyPI `pyjwt` with `cryptography`) verifying the same access tokens that
crates/oauth/examples/jwt_bench.rs wrote (JWT_BENCH_OUT): signature, exp/nbf/iat,
iss and aud, one thread, as many times as fit in the budget. Figures only.

    python3 bench/pyjwt_verify.py DIR [SECONDS]
"""
import json
import sys
import time

import jwt
from jwt import PyJWK

ISS = "https://sec.example.test"
AUD = "https://ehr.example.test/fhir"


def rate(budget, op):
    start = time.perf_counter()
    count = 0
    while time.perf_counter() - start < budget:
        for _ in range(64):
            op()
        count += 64
    return count / (time.perf_counter() - start)


def main():
    folder = sys.argv[1]
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    print(f"PyJWT {jwt.__version__}, one thread, {budget} s per figure")
    for alg in ("EdDSA", "ES256"):
        token = open(f"{folder}/{alg}.jwt").read().strip()
        key = PyJWK(json.load(open(f"{folder}/{alg}.jwk.json")), algorithm=alg).key

        def verify():
            jwt.decode(token, key, algorithms=[alg], issuer=ISS, audience=AUD, leeway=60)

        verify()
        print(f"{alg:<6} verify {rate(budget, verify):>9.0f}/s")


main()

"""Deploy the TraceCert contracts to any EVM JSON-RPC node and write the deployment file.

    .venv/bin/python scripts/deploy.py --rpc-url http://besu:8545 --keystore deployer.json \
        --national-authority 0xNATIONAL... [--data-dir DIR]

The same as `tracecert chain deploy` (the keystore passphrase comes from TRACECERT_KEYSTORE_PASSPHRASE or a prompt).
For the local embedded chain, `tracecert chain up` deploys by itself.
"""

import sys

from tracecert.chain.cli import app

if __name__ == "__main__":
    app(["deploy", *sys.argv[1:]])

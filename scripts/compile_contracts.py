"""Compile contracts/ with the pinned solc-js and write the committed artifacts (tracecert/chain/artifacts/)."""

from tracecert.chain.compile import ARTIFACTS_DIR, artifact_bytes, compile_contracts


def main() -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    for name, artifact in compile_contracts().items():
        path = ARTIFACTS_DIR / f"{name}.json"
        path.write_bytes(artifact_bytes(artifact))
        size = (len(artifact["deployedBytecode"]) - 2) // 2
        print(f"{name}: {size} bytes runtime code -> {path}")


if __name__ == "__main__":
    main()

// Hardhat 3 configuration for TraceCert: builds contracts/ offline with npm's solc-js 0.8.37 (WebAssembly) and the
// same settings as tracecert/chain/compile.py, so `hardhat build` produces the committed deployed bytecode.
//
// Hardhat 3 is ES-module only (it refuses a package.json without "type": "module") and needs Node >= 22.13:
//   PATH="$PWD/node_modules/node/bin:$PATH" npx hardhat build
// `path` points Hardhat at the local soljson.js, so it never tries to download a compiler.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** One pinned compiler and one set of settings everywhere (py-solc-x, Hardhat, Slither): see compile.py. */
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "prague",
  viaIR: false,
  metadata: { bytecodeHash: "none", appendCBOR: false },
};

export default {
  solidity: {
    profiles: {
      default: { version: "0.8.37", path: require.resolve("solc/soljson.js"), settings },
      // `hardhat build --build-profile production` would otherwise fall back to Hardhat's own defaults.
      production: { version: "0.8.37", path: require.resolve("solc/soljson.js"), settings },
    },
  },
  paths: {
    sources: "./contracts",
    artifacts: "./artifacts",
    cache: "./cache",
  },
};

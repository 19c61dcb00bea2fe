"""Chain layer: compiled contracts, JSON-RPC connection, local Anvil node, deployment, transactions."""

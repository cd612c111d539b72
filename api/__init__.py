"""The faces of askdocs: HTTP API, command line, MCP server and web page."""

"""The web app: GraphQL over HTTP on litestar."""

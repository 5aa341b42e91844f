"""The API's contract, shared by the server and its clients: what each route answers (contract/answers.py), the
table from route to answer (contract/routes.py), and the strict parser a client runs on every answer
(contract/parse.py). It imports nothing of ours but `keys/` (the signed formats the answers carry), so the
server and the client can both import it without importing each other."""

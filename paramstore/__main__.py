from paramstore.cli import app

app(prog_name="paramstore")

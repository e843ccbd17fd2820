from models.training.cli import app

app(prog_name="ecap")

from dfcvae.cli import entry

entry()

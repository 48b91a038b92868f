"""Teaching demos: small real models that show each gradient pathology (trainer side).

``gradtop.demos.scenarios`` names them and trains them headless with the real Logger.
"""

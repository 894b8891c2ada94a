"""The dashboard's routes, by concern: sign-in (`auth`), HTML pages (`pages`), JSON API (`api`)
and downloads (`exports`). Each module has a `router`; `app.create_app` includes them."""

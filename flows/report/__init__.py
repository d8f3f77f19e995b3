"""What people read after a run: tables and a markdown summary (`summary`), the HTML report (`html`)."""

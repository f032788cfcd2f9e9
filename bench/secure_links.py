"""Writes N distinct nginx secure_link paths (md5 + expires) cycling over the given objects.

python3 secure_links.py SECRET COUNT OUT OBJ [OBJ ...]
"""
import base64
import hashlib
import sys
import time

secret, count, out, objects = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
base = int(time.time()) + 3600
with open(out, "w") as f:
    for i in range(count):
        uri = "/s/" + objects[i % len(objects)]
        expires = base + i  # a different expiry per link makes every link distinct
        digest = hashlib.md5(f"{expires}{uri} {secret}".encode()).digest()
        md5 = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        f.write(f"{uri}?md5={md5}&expires={expires}\n")

"""Image input: robust decoding of local files and cached fetching of URLs.

- :mod:`artrec.images.reader` -- :func:`read_image` decodes a file (or bytes) into an RGB
  :class:`PIL.Image.Image`, honouring EXIF orientation, or raises :class:`BadImageError`
  with a reason,
- :mod:`artrec.images.fetch` -- :func:`fetch_url` downloads an http(s) URL into an on-disk
  cache with timeouts, retries, a size limit and atomic writes.

Nothing heavy is imported here.
"""

from artrec.images.reader import BadImageError, read_image

__all__ = ["BadImageError", "read_image"]

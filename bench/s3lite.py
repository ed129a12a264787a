"""s3lite - a small S3 client (SigV4, keep-alive) for benchmarks and seeding.

Standard library only, so the benchmark harness needs nothing installed.
Path-style addressing, UNSIGNED-PAYLOAD (what radosgw and AWS accept for
S3 requests; radosgw's topic API wants the payload's hash: sns()), one
HTTP connection per thread.
"""
import datetime
import hashlib
import hmac
import http.client
import os
import threading
import urllib.parse


class S3:
    def __init__(self, endpoint, access_key=None, secret_key=None, region="us-east-1"):
        u = urllib.parse.urlparse(endpoint)
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.https = u.scheme == "https"
        self.ak = access_key or os.environ["AWS_ACCESS_KEY_ID"]
        self.sk = secret_key or os.environ["AWS_SECRET_ACCESS_KEY"]
        self.region = region
        self.local = threading.local()

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            c = cls(self.host, self.port, timeout=60)
            self.local.conn = c
        return c

    def _sign(self, method, path, query, headers, payload="UNSIGNED-PAYLOAD"):
        now = datetime.datetime.now(datetime.timezone.utc)
        amz = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        headers["x-amz-date"] = amz
        headers["x-amz-content-sha256"] = payload
        headers["host"] = f"{self.host}:{self.port}"
        names = sorted(k.lower() for k in headers)
        canon_headers = "".join(f"{k}:{str(headers[k]).strip()}\n" for k in names)
        signed = ";".join(names)
        q = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                     for k, v in sorted(query.items()))
        creq = "\n".join([method, path, q, canon_headers, signed, payload])
        scope = f"{day}/{self.region}/s3/aws4_request"
        sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
        k = ("AWS4" + self.sk).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.ak}/{scope}, "
                                    f"SignedHeaders={signed}, Signature={sig}")
        return q

    def request(self, method, bucket, key="", body=None, query=None, headers=None):
        st, data, _ = self.request_full(method, bucket, key, body, query, headers)
        return st, data

    def request_full(self, method, bucket, key="", body=None, query=None, headers=None,
                     payload="UNSIGNED-PAYLOAD"):
        path = "/" + urllib.parse.quote(bucket + ("/" + key if key else ""), safe="/-_.~")
        headers = dict(headers or {})
        q = self._sign(method, path, query or {}, headers, payload)
        url = path + ("?" + q if q else "")
        for attempt in range(3):
            c = self._conn()
            try:
                c.request(method, url, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                return r.status, data, {k.lower(): v for k, v in r.getheaders()}
            except (http.client.HTTPException, OSError):
                c.close()
                self.local.conn = None
                if attempt == 2:
                    raise

    def sns(self, params):
        """radosgw's topic API (CreateTopic, GetTopic, DeleteTopic ...):
        POST / with the parameters in the query.  radosgw 16.2 refuses
        UNSIGNED-PAYLOAD there (SignatureDoesNotMatch): the empty body's hash
        is signed.  Returns (status, body)."""
        st, data, _ = self.request_full("POST", "", query=params, body=b"",
                                        payload=hashlib.sha256(b"").hexdigest())
        return st, data

    def put(self, bucket, key, data):
        st, body = self.request("PUT", bucket, key, body=data)
        if st != 200:
            raise RuntimeError(f"PUT {key}: {st} {body[:200]}")

    def get(self, bucket, key):
        st, body = self.request("GET", bucket, key)
        return body if st == 200 else None

    def list_keys(self, bucket, prefix):
        import re
        from html import unescape
        keys, token = [], None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            st, body = self.request("GET", bucket, query=q)
            text = body.decode()
            keys += [unescape(k) for k in re.findall(r"<Key>(.*?)</Key>", text)]
            m = re.search(r"<NextContinuationToken>(.*?)</NextContinuationToken>", text)
            if "<IsTruncated>true</IsTruncated>" not in text or not m:
                return keys
            token = unescape(m.group(1))

    def delete(self, bucket, key):
        self.request("DELETE", bucket, key)

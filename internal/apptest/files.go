package apptest

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
)

// Magic bytes that make generated data recognisable as a file type.
var (
	PNG  = []byte("\x89PNG\r\n\x1a\n")
	JPEG = []byte("\xff\xd8\xff\xe0")
	GIF  = []byte("GIF89a")
	WebP = []byte("RIFF\x00\x00\x00\x00WEBPVP8 ")
	PDF  = []byte("%PDF-1.7\n")
)

// File is test data made on the fly: Size bytes that start with Magic (cut
// to Size) and go on with a pseudo-random stream chosen by Seed. Tests need
// no fixtures and never hold a large file in memory: the bytes are produced
// as they are sent and checked by their SHA-256.
type File struct {
	Magic []byte
	Size  int64
	Seed  uint64
}

// Reader returns the file's bytes.
func (f File) Reader() io.Reader {
	var seed [32]byte
	for i := range 8 {
		seed[i] = byte(f.Seed >> (8 * i))
	}
	return &fileReader{magic: f.Magic, left: f.Size, rng: rand.NewChaCha8(seed)}
}

// SHA256 returns the hex SHA-256 of the file's bytes.
func (f File) SHA256() string {
	h := sha256.New()
	if _, err := io.Copy(h, f.Reader()); err != nil {
		panic(err) // a fileReader never fails
	}
	return hex.EncodeToString(h.Sum(nil))
}

type fileReader struct {
	magic []byte
	left  int64
	rng   *rand.ChaCha8
}

func (r *fileReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := copy(p, r.magic)
	r.magic = r.magic[n:]
	_, _ = r.rng.Read(p[n:])
	r.left -= int64(len(p))
	return len(p), nil
}

package outbox

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// A chunk's data is stored compressed with zstd. FerretDB's CPU per chunk grows
// with its bytes (measured here: 4.1 ms for a chunk of 400 readings, 75 KB, 0.8 ms
// for 25 readings, 4 KB), and JSON lines of readings, with their repeated names and
// keys, shrink several times (BenchmarkInsertChunk reports the bytes stored and
// the time per insert, plain and packed). A chunkDoc without Enc is plain, as
// chunks stored before this were.
const encZstd = "zstd"

// maxChunkBytes bounds a chunk's data once decompressed: far above any chunk the
// writer makes (MaxBatch readings), so only a corrupt one is refused.
const maxChunkBytes = 64 << 20

var (
	// A window of 1 MiB holds a whole chunk of 2,000 readings of the usual size (a
	// larger one still compresses, with matches no farther back than that); the
	// default of 8 MiB was 8 MB of the hub's live heap.
	chunkEncoder = mustZstd(zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20)))
	chunkDecoder = mustZstd(zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxChunkBytes)))
)

// mustZstd panics on a coder's options error, which only a wrong option above makes.
func mustZstd[T any](coder T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("outbox: zstd options: %v", err))
	}
	return coder
}

// packChunk returns data as it is stored, and its encoding.
func packChunk(data []byte) (enc string, stored []byte) {
	return encZstd, chunkEncoder.EncodeAll(data, make([]byte, 0, len(data)/2))
}

// unpackChunk returns a stored chunk's data.
func unpackChunk(enc string, stored []byte) ([]byte, error) {
	switch enc {
	case "":
		return stored, nil
	case encZstd:
		data, err := chunkDecoder.DecodeAll(stored, nil)
		if err != nil {
			return nil, fmt.Errorf("decompress chunk data: %w", err)
		}
		return data, nil
	default:
		return nil, fmt.Errorf("chunk data in an encoding this hub does not know: %q", enc)
	}
}

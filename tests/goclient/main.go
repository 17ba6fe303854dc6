// Command goclient drives two real Go S3 SDKs, minio-go and aws-sdk-go-v2, against an s3lite
// gateway for the tests in tests/test_go_sdks.py.
//
// These SDKs are what send aws-chunked request bodies in practice, so the tests need the bytes
// they really put on the wire, framed and signed by the libraries' own encoders. Every request
// is reported on stderr ("request: PUT /b/k x-amz-content-sha256=STREAMING-..."), so a test can
// check which payload mode was taken, not just that the upload worked.
//
//	goclient minio put [-part-size N] [-trailer] [-unsigned] [-corrupt-at N] ENDPOINT BUCKET KEY FILE
//	goclient aws put [-part-size N] [-plain-http] [-seekable] [-corrupt-at N] ENDPOINT BUCKET KEY FILE
//	goclient (minio|aws) get ENDPOINT BUCKET KEY FILE
//
// ENDPOINT is the gateway's http://127.0.0.1:PORT; the credentials come from AWS_ACCESS_KEY_ID
// and AWS_SECRET_ACCESS_KEY. A failed call prints "error-code: <S3 code>" on stderr and exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscredentials "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocredentials "github.com/minio/minio-go/v7/pkg/credentials"
)

const region = "us-east-1"

// reportingTransport writes each request's payload mode to stderr. With downgradeTLS it sends an
// https:// request over plain HTTP, unchanged otherwise: aws-sdk-go-v2 frames a body with a
// trailing checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER) only when it believes the connection is
// TLS, and the test gateway listens on plain HTTP. The bytes of the request are the SDK's own.
//
// With corruptAt >= 0 it flips one bit of the body's byte at that offset on the wire, after the
// SDK has framed, hashed and signed it: damage in transit, for the gateway to catch.
type reportingTransport struct {
	base         http.RoundTripper
	downgradeTLS bool
	corruptAt    int64
}

func (t *reportingTransport) RoundTrip(request *http.Request) (*http.Response, error) {
	fmt.Fprintf(os.Stderr,
		"request: %s %s x-amz-content-sha256=%s content-encoding=%s "+
			"x-amz-decoded-content-length=%s x-amz-trailer=%s x-amz-checksum-mode=%s content-length=%d\n",
		request.Method, request.URL.RequestURI(), request.Header.Get("X-Amz-Content-Sha256"),
		request.Header.Get("Content-Encoding"), request.Header.Get("X-Amz-Decoded-Content-Length"),
		request.Header.Get("X-Amz-Trailer"), request.Header.Get("X-Amz-Checksum-Mode"), request.ContentLength)
	if t.downgradeTLS && request.URL.Scheme == "https" {
		request = request.Clone(request.Context())
		request.URL.Scheme = "http"
	}
	if t.corruptAt >= 0 && request.Body != nil && request.Method == http.MethodPut {
		request = request.Clone(request.Context())
		request.Body = &corruptingBody{ReadCloser: request.Body, at: t.corruptAt}
	}
	response, err := t.base.RoundTrip(request)
	if err == nil {
		fmt.Fprintf(os.Stderr, "response: %d x-amz-checksum-crc32=%s\n",
			response.StatusCode, response.Header.Get("X-Amz-Checksum-Crc32"))
	}
	return response, err
}

func newTransport(downgradeTLS bool, corruptAt int64) *reportingTransport {
	return &reportingTransport{
		base:         http.DefaultTransport.(*http.Transport).Clone(),
		downgradeTLS: downgradeTLS,
		corruptAt:    corruptAt,
	}
}

type corruptingBody struct {
	io.ReadCloser
	at     int64
	offset int64
}

func (c *corruptingBody) Read(buffer []byte) (int, error) {
	n, err := c.ReadCloser.Read(buffer)
	if c.at >= c.offset && c.at < c.offset+int64(n) {
		buffer[c.at-c.offset] ^= 1
	}
	c.offset += int64(n)
	return n, err
}

// unseekable hides the file's Seek and ReadAt, as a pipe or a socket would: the SDKs can then
// neither hash the body before sending it nor rewind it.
type unseekable struct{ reader io.Reader }

func (u unseekable) Read(buffer []byte) (int, error) { return u.reader.Read(buffer) }

type options struct {
	partSize  int64
	trailer   bool
	unsigned  bool
	plainHTTP bool
	seekable  bool
	corruptAt int64
}

func main() {
	if len(os.Args) < 3 {
		fail(errors.New("usage: goclient (minio|aws) (put|get) [flags] ENDPOINT BUCKET KEY FILE"))
	}
	sdk, command := os.Args[1], os.Args[2]
	flags := flag.NewFlagSet(sdk+" "+command, flag.ExitOnError)
	var opts options
	flags.Int64Var(&opts.partSize, "part-size", 0, "multipart upload with parts of this size (0: one PUT)")
	flags.BoolVar(&opts.trailer, "trailer", false, "minio: a trailing CRC32 checksum (TrailingHeaders)")
	flags.BoolVar(&opts.unsigned, "unsigned", false, "minio: unsigned chunks (DisableContentSha256)")
	flags.BoolVar(&opts.plainHTTP, "plain-http", false, "aws: let the SDK know it speaks plain HTTP")
	flags.BoolVar(&opts.seekable, "seekable", false, "aws: give the SDK the file itself, seekable")
	flags.Int64Var(&opts.corruptAt, "corrupt-at", -1, "flip a bit of the PUT body at this offset on the wire")
	_ = flags.Parse(os.Args[3:])
	if flags.NArg() != 4 {
		fail(fmt.Errorf("%s %s wants ENDPOINT BUCKET KEY FILE, got %q", sdk, command, flags.Args()))
	}
	endpoint, bucket, key, path := flags.Arg(0), flags.Arg(1), flags.Arg(2), flags.Arg(3)
	accessKey, secretKey := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var err error
	switch sdk + " " + command {
	case "minio put":
		err = minioPut(ctx, endpoint, accessKey, secretKey, bucket, key, path, opts)
	case "minio get":
		err = minioGet(ctx, endpoint, accessKey, secretKey, bucket, key, path)
	case "aws put":
		err = awsPut(ctx, endpoint, accessKey, secretKey, bucket, key, path, opts)
	case "aws get":
		err = awsGet(ctx, endpoint, accessKey, secretKey, bucket, key, path, opts)
	default:
		err = fmt.Errorf("unknown command %q", sdk+" "+command)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	var minioError minio.ErrorResponse
	var apiError smithy.APIError
	switch {
	case errors.As(err, &minioError) && minioError.Code != "":
		fmt.Fprintf(os.Stderr, "error-code: %s\n", minioError.Code)
	case errors.As(err, &apiError):
		fmt.Fprintf(os.Stderr, "error-code: %s\n", apiError.ErrorCode())
	}
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	os.Exit(1)
}

func newMinio(endpoint, accessKey, secretKey string, trailer bool, corruptAt int64) (*minio.Client, error) {
	parsed, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	return minio.New(parsed.Host, &minio.Options{
		Creds:           miniocredentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:          parsed.Scheme == "https",
		Transport:       newTransport(false, corruptAt),
		Region:          region,
		BucketLookup:    minio.BucketLookupPath,
		TrailingHeaders: trailer,
		MaxRetries:      1,
	})
}

// minioPut uploads with minio-go's PutObject. Over plain HTTP with a known size it signs every
// chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), adds a signed trailer with -trailer
// (...-PAYLOAD-TRAILER) and leaves the chunks unsigned with -unsigned
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER); see Client.newRequest in minio-go's api.go.
func minioPut(ctx context.Context, endpoint, accessKey, secretKey, bucket, key, path string, opts options) error {
	client, err := newMinio(endpoint, accessKey, secretKey, opts.trailer || opts.unsigned, opts.corruptAt)
	if err != nil {
		return err
	}
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return err
	}
	put := minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		DisableContentSha256: opts.unsigned,
		DisableMultipart:     opts.partSize == 0,
		PartSize:             uint64(opts.partSize),
		NumThreads:           2,
	}
	if opts.trailer || opts.unsigned {
		put.Checksum = minio.ChecksumCRC32
	}
	uploaded, err := client.PutObject(ctx, bucket, key, file, info.Size(), put)
	if err != nil {
		return err
	}
	fmt.Printf("etag: %s\nsize: %d\nchecksum-crc32: %s\n", uploaded.ETag, uploaded.Size, uploaded.ChecksumCRC32)
	return nil
}

func minioGet(ctx context.Context, endpoint, accessKey, secretKey, bucket, key, path string) error {
	client, err := newMinio(endpoint, accessKey, secretKey, false, -1)
	if err != nil {
		return err
	}
	object, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer object.Close()
	return writeFile(path, object)
}

// newAWS answers an aws-sdk-go-v2 S3 client that believes it talks TLS (see reportingTransport),
// unless plainHTTP.
func newAWS(endpoint, accessKey, secretKey string, plainHTTP bool, corruptAt int64) *s3.Client {
	if !plainHTTP {
		endpoint = strings.Replace(endpoint, "http://", "https://", 1)
	}
	return s3.New(s3.Options{
		Region:           region,
		Credentials:      awscredentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     true,
		HTTPClient:       &http.Client{Transport: newTransport(!plainHTTP, corruptAt)},
		RetryMaxAttempts: 1,
	})
}

// awsPut uploads an unseekable body with a CRC32 checksum, which aws-sdk-go-v2 sends as
// STREAMING-UNSIGNED-PAYLOAD-TRAILER (a signed request, unsigned aws-chunked chunks, the
// checksum in a trailer); with -part-size, as a multipart upload whose every part is so sent.
// Over plain HTTP the SDK frames nothing: it hashes a seekable body first (a hex SHA-256 and an
// x-amz-checksum-crc32 header) and refuses an unseekable one.
func awsPut(ctx context.Context, endpoint, accessKey, secretKey, bucket, key, path string, opts options) error {
	client := newAWS(endpoint, accessKey, secretKey, opts.plainHTTP, opts.corruptAt)
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	if opts.partSize == 0 {
		var body io.Reader = unseekable{file}
		if opts.seekable {
			body = file
		}
		answer, err := client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:            aws.String(bucket),
			Key:               aws.String(key),
			Body:              body,
			ContentLength:     aws.Int64(size),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return err
		}
		fmt.Printf("etag: %s\nsize: %d\nchecksum-crc32: %s\n",
			aws.ToString(answer.ETag), size, aws.ToString(answer.ChecksumCRC32))
		return nil
	}

	created, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(bucket),
		Key:               aws.String(key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return err
	}
	var parts []types.CompletedPart
	for number, offset := int32(1), int64(0); offset < size; number, offset = number+1, offset+opts.partSize {
		length := min(opts.partSize, size-offset)
		answer, err := client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(bucket),
			Key:               aws.String(key),
			UploadId:          created.UploadId,
			PartNumber:        aws.Int32(number),
			Body:              unseekable{io.NewSectionReader(file, offset, length)},
			ContentLength:     aws.Int64(length),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return err
		}
		parts = append(parts, types.CompletedPart{
			ETag: answer.ETag, PartNumber: aws.Int32(number), ChecksumCRC32: answer.ChecksumCRC32,
		})
	}
	completed, err := client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(bucket),
		Key:             aws.String(key),
		UploadId:        created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return err
	}
	fmt.Printf("etag: %s\nsize: %d\n", aws.ToString(completed.ETag), size)
	return nil
}

func awsGet(ctx context.Context, endpoint, accessKey, secretKey, bucket, key, path string, opts options) error {
	// With the checksum mode enabled the SDK checks the body against the stored checksum.
	answer, err := newAWS(endpoint, accessKey, secretKey, opts.plainHTTP, -1).GetObject(ctx, &s3.GetObjectInput{
		Bucket:       aws.String(bucket),
		Key:          aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return err
	}
	defer answer.Body.Close()
	return writeFile(path, answer.Body)
}

func writeFile(path string, body io.Reader) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(file, body); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

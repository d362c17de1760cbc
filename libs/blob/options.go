package blob

// WithGCSBillingProject bills GCS requests to project: Hedera's public
// record-stream buckets (and any requester-pays bucket) refuse requests
// that do not name a project to charge (the userProject parameter).
// S3 ignores it.
func WithGCSBillingProject(project string) Option {
	return func(o *options) { o.userProject = project }
}

// WithGCSCredentialsFile authenticates to GCS with a service-account key
// file instead of the environment's default credentials (which already
// include GOOGLE_APPLICATION_CREDENTIALS). Empty keeps the default. It has
// no effect on a gcs+http:// emulator endpoint, which takes no
// authentication. S3 ignores it.
func WithGCSCredentialsFile(path string) Option {
	return func(o *options) { o.credentialsFile = path }
}

// WithS3RequesterPays sends "x-amz-request-payer: requester" on every
// read and listing, which requester-pays buckets require: the caller's
// account pays for the transfer. GCS ignores it.
func WithS3RequesterPays() Option {
	return func(o *options) { o.requesterPays = true }
}

// WithS3DefaultCredentials takes S3 credentials from the AWS SDK's default
// chain when the bucket config carries no static key id: the environment
// (AWS_ACCESS_KEY_ID…), the shared config and credentials files and
// profiles (AWS_PROFILE), web identity (IRSA on EKS), ECS task roles and
// EC2 instance roles. With a key id in the config the static key is used.
// GCS ignores it.
func WithS3DefaultCredentials() Option {
	return func(o *options) { o.s3DefaultCredentials = true }
}

package api

import (
	"strings"

	"github.com/atollcloud/atoll/db"
	"github.com/atollcloud/atoll/mgmt/config"

	"github.com/atollcloud/atoll/mgmt/orchestrate/volume"
)

func registerVolumeUpload(s *Server) {
	s.Reg.Add(&Command{Name: "getUploadParamsForVolume", Response: uploadParamsResponse, Roles: AllRoles, ResponseKey: "getuploadparams",
		Description: "Upload a data disk to the cloudstack cloud.",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the volume/template/iso"},
			{Name: "zoneid", Type: TUUID, Required: true, Description: "the ID of the zone the volume/template/iso is to be hosted on"},
			{Name: "format", Type: TString, Required: true, Description: "the format for the volume/template/iso. Possible values include QCOW2, OVA, and VHD."},
			{Name: "checksum", Type: TString, Description: "the checksum value of this volume/template/iso The parameter containing the checksum will be considered a MD5sum if it is not prefixed\n and just a plain ascii/utf8 representation of a hexadecimal string. If it is required to\n use another algorithm the hexadecimal string is to be prefixed with a string of the form,\n \"{<algorithm>}\", not including the double quotes. In this <algorithm> is the exact string\n representing the java supported algorithm, i.e. MD5 or SHA-256. Note that java does not\n contain an algorithm called SHA256 or one called sha-256, only SHA-256."},
			{Name: "account", Type: TString, Description: "an optional accountName. Must be used with domainId."},
			{Name: "domainid", Type: TUUID, Description: "an optional domainId. If the account parameter is used, domainId must also be used."},
			{Name: "projectid", Type: TUUID, Description: "Upload volume/template/iso for the project (projects are not supported)"},
			{Name: "diskofferingid", Type: TUUID, Description: "the ID of the disk offering. This must be a custom sized offering since during upload of volume/template size is unknown."},
			{Name: "imagestoreuuid", Type: TString, Description: "Image store uuid"},
		},
		Handler: getUploadParamsForVolume})
	s.Reg.Add(&Command{Name: "uploadVolume", Response: volumeResponse, Roles: AllRoles, Async: true, ResponseKey: "volume",
		Description: "Uploads a data disk.",
		Params: []Param{
			{Name: "name", Type: TString, Required: true, Length: 255, Description: "the name of the volume"},
			{Name: "zoneid", Type: TUUID, Required: true, Description: "the ID of the zone the volume is to be hosted on"},
			{Name: "format", Type: TString, Required: true, Description: "the format for the volume. Possible values include QCOW2, OVA, and VHD."},
			{Name: "url", Type: TString, Required: true, Length: 2048, Description: "the URL of where the volume is hosted. Possible URL include http:// and https://"},
			{Name: "checksum", Type: TString, Description: "the checksum value of this volume. The parameter containing the checksum will be considered a MD5sum if it is not prefixed\n and just a plain ascii/utf8 representation of a hexadecimal string. If it is required to\n use another algorithm the hexadecimal string is to be prefixed with a string of the form,\n \"{<algorithm>}\", not including the double quotes. In this <algorithm> is the exact string\n representing the java supported algorithm, i.e. MD5 or SHA-256. Note that java does not\n contain an algorithm called SHA256 or one called sha-256, only SHA-256."},
			{Name: "account", Type: TString, Description: "an optional accountName. Must be used with domainId."},
			{Name: "domainid", Type: TUUID, Description: "an optional domainId. If the account parameter is used, domainId must also be used. If account is NOT provided then volume will be assigned to the caller account and domain."},
			{Name: "projectid", Type: TUUID, Description: "Upload volume for the project (projects are not supported)"},
			{Name: "diskofferingid", Type: TUUID, Description: "the ID of the disk offering. This must be a custom sized offering since during uploadVolume volume size is unknown."},
			{Name: "imagestoreuuid", Type: TString, Description: "Image store uuid"},
		},
		Handler: uploadVolumeStart, Job: uploadVolumeJob})
}

// uploadVolumeStart checks the URL as registerTemplate does and records the volume (UploadOp)
// with its job.
func uploadVolumeStart(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	loopback, _ := c.S.Config.Get(c.Ctx, config.Global, "", "atoll.image.url.allow.loopback")
	if err := validateImageURL(strings.TrimSpace(c.P.String("url")), "QCOW2", strings.EqualFold(loopback, "true")); err != nil {
		return nil, err
	}
	jobID, volID, err := volume.StartUploadURL(c.Ctx, c.deps(), c.actor(), c.uploadSpec())
	return c.volJobStarted(jobID, volID, err)
}

// uploadVolumeJob has a host of the zone download the URL into the image store and answers
// the volume, Uploaded (attachVolume then copies it to a pool).
func uploadVolumeJob(c *Call, j *db.Job) (any, error) {
	if _, err := volume.UploadURL(c.Ctx, c.deps(), j.InstanceID, c.uploadSpec()); err != nil {
		return nil, err
	}
	return c.volumeObject(j.InstanceID)
}

func (c *Call) uploadSpec() volume.UploadSpec {
	return volume.UploadSpec{Name: c.P.String("name"), Account: c.P.String("account"), DomainID: strings.ToLower(c.P.String("domainid")),
		ZoneID: strings.ToLower(c.P.String("zoneid")), Format: c.P.String("format"), Checksum: c.P.String("checksum"),
		DiskOfferingID: strings.ToLower(c.P.String("diskofferingid")), ImageStoreID: strings.ToLower(c.P.String("imagestoreuuid")),
		URL: strings.TrimSpace(c.P.String("url"))}
}

// getUploadParamsForVolume records the volume (NotUploaded) and answers where and how to POST
// its bytes: a signed URL under this management server (transfer_http.go) that expires after
// upload.operation.timeout minutes.
func getUploadParamsForVolume(c *Call) (any, error) {
	if err := c.refuseProject(); err != nil {
		return nil, err
	}
	v, t, err := volume.StartUploadParams(c.Ctx, c.deps(), c.actor(), c.uploadSpec())
	if err != nil {
		return nil, err
	}
	return Object{Key: "getuploadparams", Value: c.uploadParams(v.ID, t)}, nil
}

// uploadParamsResponse is CloudStack's GetUploadParamsResponse.
var uploadParamsResponse = join(jobFields, []Field{
	f("id", rString, "the template/volume ID"),
	f("postURL", rString, "POST url to upload the file to"),
	f("metadata", rString, "encrypted data to be sent in the POST request."),
	f("expires", rString, "the timestamp after which the signature expires"),
	f("signature", rString, "signature to be sent in the POST request."),
})

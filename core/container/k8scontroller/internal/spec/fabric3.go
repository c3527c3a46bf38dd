//go:build !fabric25

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

// What the VM takes from Fabric where the Fabric lines differ. Fabric v3
// takes its messages from fabric-protos-go-apiv2. The two protobuf modules
// register the same message names, so a peer binary links only the one of
// its own line. fabric25.go (build tag fabric25) is the Fabric 2.5
// counterpart.

import pb "github.com/hyperledger/fabric-protos-go-apiv2/peer"

// Chaincode types as Fabric names them (a code package's metadata type).
const (
	ccTypeGolang = pb.ChaincodeSpec_GOLANG
	ccTypeCar    = pb.ChaincodeSpec_CAR
	ccTypeJava   = pb.ChaincodeSpec_JAVA
	ccTypeNode   = pb.ChaincodeSpec_NODE
)

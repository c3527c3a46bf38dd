//go:build fabric25

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

// What the VM takes from Fabric where the Fabric lines differ. Fabric 2.5
// (cmd/fabric-2.5 builds with -tags fabric25) takes its messages from
// fabric-protos-go. The two protobuf modules register the same message
// names, so a peer binary links only the one of its own line. fabric3.go is
// the Fabric v3 counterpart.

import pb "github.com/hyperledger/fabric-protos-go/peer"

// Chaincode types as Fabric names them (a code package's metadata type).
const (
	ccTypeGolang = pb.ChaincodeSpec_GOLANG
	ccTypeCar    = pb.ChaincodeSpec_CAR
	ccTypeJava   = pb.ChaincodeSpec_JAVA
	ccTypeNode   = pb.ChaincodeSpec_NODE
)

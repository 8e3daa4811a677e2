// The memory estimate of the model card: weights, KV cache and buffers against the chosen
// device's free memory, with a clear "fits" or "does not fit" and what to change.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Frame {
    id: view
    property var estimate: ({})
    property string deviceName: ""
    property bool onCpu: true
    property string requestedCache: "fp16"
    readonly property bool fits: estimate && estimate.fits === true

    ColumnLayout {
        anchors.fill: parent
        spacing: 4
        Label {
            text: qsTr("Memory estimate on %1").arg(view.deviceName)
            font.bold: true
            Accessible.name: text
        }
        GridLayout {
            columns: 2
            columnSpacing: 24
            Label { text: qsTr("Weights"); Accessible.name: text }
            Label { text: view.estimate.weightsText || ""; Accessible.name: qsTr("Weights: %1").arg(text) }
            Label { text: qsTr("KV cache (%1)").arg(view.estimate.cacheType || ""); Accessible.name: text }
            Label { text: view.estimate.kvCacheText || ""; Accessible.name: qsTr("KV cache: %1").arg(text) }
            Label { text: qsTr("Buffers"); Accessible.name: text }
            Label { text: view.estimate.buffersText || ""; Accessible.name: qsTr("Buffers: %1").arg(text) }
            Label { text: qsTr("Total"); font.bold: true; Accessible.name: text }
            Label { text: view.estimate.totalText || ""; font.bold: true; Accessible.name: qsTr("Total: %1").arg(text) }
            Label { text: qsTr("Free now"); Accessible.name: text }
            Label { text: view.estimate.freeText || qsTr("unknown"); Accessible.name: qsTr("Free memory: %1").arg(text) }
        }
        Label {
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            font.bold: true
            color: view.fits ? palette.windowText : "#c62828"
            text: view.fits ? qsTr("✓ Fits in free memory.")
                            : qsTr("✗ Does not fit: choose a smaller context, a Q4 cache, or load on the CPU.")
            Accessible.name: text
        }
        Label {
            Layout.fillWidth: true
            visible: view.onCpu || view.requestedCache !== "fp16"
            wrapMode: Text.Wrap
            opacity: 0.7
            font.pointSize: Qt.application.font.pointSize * 0.85
            text: view.onCpu ? qsTr("The CPU backend keeps the KV cache in fp32 and dequantizes EXL2/GPTQ weights to fp32.")
                             : qsTr("This engine build stores the cache in fp16; the %1 figure shows what a quantized cache will need.").arg(view.requestedCache)
            Accessible.name: text
        }
    }
}

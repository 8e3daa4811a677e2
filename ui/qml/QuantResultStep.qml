// Wizard step 6: what the job made: achieved bits per weight, size, perplexity before and after
// on the built-in evaluation text, per-layer choices; Load now, Open folder and the job report.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ScrollView {
    id: page
    property var wizard: null
    readonly property var r: wizard ? wizard.result : ({})
    contentWidth: availableWidth
    Accessible.name: qsTr("Result")

    ColumnLayout {
        width: page.availableWidth
        spacing: 10

        GridLayout {
            columns: 4
            columnSpacing: 16
            rowSpacing: 4
            Layout.fillWidth: true
            CardField { label: qsTr("Bits per weight"); value: page.r.bitsPerWeight ? qsTr("%1 (target %2)").arg(Number(page.r.bitsPerWeight).toFixed(3)).arg(Number(page.r.targetBits).toFixed(2)) : "" }
            CardField { label: qsTr("Head"); value: page.r.headBitsPerWeight ? qsTr("%1 bpw").arg(Number(page.r.headBitsPerWeight).toFixed(3)) : "" }
            CardField { label: qsTr("Size"); value: page.r.sizeText || "" }
            CardField { label: qsTr("Time"); value: page.r.totalText || "" }
            CardField {
                label: qsTr("Perplexity")
                value: page.r.evalPplAfter > 0 ? qsTr("%1 → %2 (%3 tokens of %4)").arg(Number(page.r.evalPplBefore).toFixed(3)).arg(Number(page.r.evalPplAfter).toFixed(3)).arg(page.r.evalTokens).arg(page.r.evalText || "")
                       : (page.r.evalNote || qsTr("not measured"))
            }
            CardField {
                label: qsTr("Calibration ppl")
                value: page.r.calibrationPpl ? (page.r.calibrationPplFp > 0 ? qsTr("%1 → %2").arg(Number(page.r.calibrationPplFp).toFixed(3)).arg(Number(page.r.calibrationPpl).toFixed(3))
                                                                           : Number(page.r.calibrationPpl).toFixed(3)) : ""
            }
            CardField { label: qsTr("Folder"); value: page.r.output || "" }
            CardField { label: qsTr("Measurement"); value: page.r.measurementReused ? qsTr("reused") : qsTr("measured") }
        }

        RowLayout {
            spacing: 8
            Button {
                text: qsTr("Load now")
                highlighted: true
                onClicked: page.wizard.loadNow()
                Accessible.name: qsTr("Load the quantized model")
            }
            Button {
                text: qsTr("Open folder")
                onClicked: page.wizard.openFolder()
                Accessible.name: qsTr("Open the output folder in the file manager")
            }
            Button {
                text: qsTr("Quantize another")
                onClicked: page.wizard.reset()
                Accessible.name: qsTr("Start the wizard again")
            }
        }

        Label { text: qsTr("Layers"); font.bold: true; Accessible.name: text }
        Column {
            spacing: 2
            Repeater {
                model: page.r.layers || []
                delegate: Label {
                    required property var modelData
                    font.family: "monospace"
                    text: qsTr("layer %1  attention %2 bpw (error %3)  MLP %4 bpw (error %5)").arg(modelData.layer)
                          .arg(Number(modelData.attnBpw).toFixed(2)).arg(Number(modelData.attnError).toExponential(2))
                          .arg(Number(modelData.mlpBpw).toFixed(2)).arg(Number(modelData.mlpError).toExponential(2))
                    Accessible.name: text
                }
            }
        }

        Label { text: qsTr("Job report"); font.bold: true; Accessible.name: text }
        TextArea {
            Layout.fillWidth: true
            readOnly: true
            wrapMode: TextEdit.NoWrap
            font.family: "monospace"
            text: page.wizard ? page.wizard.reportText : ""
            Accessible.name: qsTr("Job report (quantization_report.json)")
        }
    }
}

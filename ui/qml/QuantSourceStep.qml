// Wizard step 1: the fp16/bf16 model folder to quantize (drop it here or pick it), the check's
// verdict and the model card; unfinished jobs from earlier runs are offered for resume.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs

ScrollView {
    id: page
    property var wizard: null
    readonly property var card: wizard ? wizard.sourceCard : ({})
    contentWidth: availableWidth
    Accessible.name: qsTr("Source model")

    ColumnLayout {
        width: page.availableWidth
        spacing: 10

        Frame {
            Layout.fillWidth: true
            visible: page.wizard && page.wizard.resumableJobs.length > 0
            Accessible.name: qsTr("Unfinished jobs")
            ColumnLayout {
                anchors.fill: parent
                Label { text: qsTr("Unfinished jobs"); font.bold: true; Accessible.name: text }
                Repeater {
                    model: page.wizard ? page.wizard.resumableJobs : []
                    delegate: RowLayout {
                        required property var modelData
                        Layout.fillWidth: true
                        Label {
                            Layout.fillWidth: true
                            elide: Text.ElideMiddle
                            text: qsTr("%1 at %2 bpw → %3").arg(modelData.input).arg(Number(modelData.bits).toFixed(2)).arg(modelData.output)
                            Accessible.name: text
                        }
                        Button {
                            text: qsTr("Resume")
                            Accessible.name: qsTr("Resume the job writing %1").arg(modelData.output)
                            onClicked: page.wizard.resume(modelData.output)
                        }
                        Button {
                            text: qsTr("Forget")
                            Accessible.name: qsTr("Stop offering the job writing %1").arg(modelData.output)
                            onClicked: page.wizard.discardJob(modelData.output)
                        }
                    }
                }
            }
        }

        Rectangle {
            Layout.fillWidth: true
            Layout.preferredHeight: fm.height * 5
            radius: 6
            color: drop.containsDrag ? palette.highlight : palette.alternateBase
            border.color: palette.mid
            border.width: 1
            Accessible.role: Accessible.Grouping
            Accessible.name: qsTr("Drop a model folder here")
            RowLayout {
                anchors.centerIn: parent
                spacing: 12
                Label {
                    text: qsTr("Drop an fp16 or bf16 model folder here, or")
                    color: drop.containsDrag ? palette.highlightedText : palette.text
                    Accessible.name: text
                }
                Button {
                    text: qsTr("Choose folder…")
                    Accessible.name: qsTr("Choose the model folder to quantize")
                    onClicked: folderDialog.open()
                }
            }
            DropArea {
                id: drop
                anchors.fill: parent
                keys: ["text/uri-list"]
                onDropped: (event) => {
                    if (event.hasUrls && event.urls.length > 0) {
                        page.wizard.setSource(event.urls[0].toString())
                        event.acceptProposedAction()
                    }
                }
            }
        }

        RowLayout {
            visible: page.wizard && page.wizard.sourcePath.length > 0
            Layout.fillWidth: true
            BusyIndicator {
                running: page.wizard ? page.wizard.sourceChecking : false
                visible: running
                Layout.preferredHeight: fm.height * 1.6
                Layout.preferredWidth: fm.height * 1.6
                Accessible.name: qsTr("Checking the folder")
            }
            Label {
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                font.bold: true
                text: !page.wizard ? "" : page.wizard.sourceChecking ? qsTr("Checking %1…").arg(page.wizard.sourcePath)
                      : page.wizard.sourceOk ? qsTr("✓ Ready to quantize: %1").arg(page.wizard.sourcePath)
                      : qsTr("✗ %1").arg(page.wizard.sourceError.title || qsTr("This folder cannot be quantized"))
                Accessible.name: text
            }
        }
        Label {
            Layout.fillWidth: true
            visible: page.wizard && !page.wizard.sourceChecking && !page.wizard.sourceOk && page.wizard.sourcePath.length > 0
            wrapMode: Text.Wrap
            text: page.wizard ? (page.wizard.sourceError.message || "") + "\n" + (page.wizard.sourceError.fix || "") : ""
            Accessible.name: qsTr("Why: %1").arg(text)
        }

        GridLayout {
            visible: page.card && page.card.name !== undefined
            columns: 4
            columnSpacing: 16
            rowSpacing: 4
            Layout.fillWidth: true
            CardField { label: qsTr("Name"); value: page.card.name || "" }
            CardField { label: qsTr("Architecture"); value: page.card.architecture || "" }
            CardField { label: qsTr("Parameters"); value: page.card.parametersText || "" }
            CardField { label: qsTr("Format"); value: page.card.formatText || "" }
            CardField { label: qsTr("Weights"); value: page.card.weightBytesText || "" }
            CardField { label: qsTr("Context length"); value: page.card.contextLength ? page.card.contextLength + "" : "" }
            CardField { label: qsTr("Layers"); value: page.card.layers ? qsTr("%1 (%2 heads, %3 KV)").arg(page.card.layers).arg(page.card.heads).arg(page.card.kvHeads) : "" }
            CardField { label: qsTr("Tokenizer"); value: page.card.tokenizer || "" }
        }
    }

    FolderDialog {
        id: folderDialog
        title: qsTr("Choose the model folder to quantize")
        onAccepted: page.wizard.setSource(selectedFolder.toString())
    }
    FontMetrics { id: fm }
}

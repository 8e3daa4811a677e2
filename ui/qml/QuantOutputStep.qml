// Wizard step 4: the output folder with its free-space check, and reuse of the measurement saved
// for this model by an earlier job (it saves the longest stage).
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs

ScrollView {
    id: page
    property var wizard: null
    contentWidth: availableWidth
    Accessible.name: qsTr("Output folder")

    ColumnLayout {
        width: page.availableWidth
        spacing: 10

        RowLayout {
            Layout.fillWidth: true
            Label { text: qsTr("Output folder"); Accessible.name: text }
            TextField {
                Layout.fillWidth: true
                text: page.wizard ? page.wizard.outputPath : ""
                onEditingFinished: page.wizard.outputPath = text
                Accessible.name: qsTr("Output folder path")
            }
            Button {
                text: qsTr("Choose…")
                onClicked: folderDialog.open()
                Accessible.name: qsTr("Choose the output folder")
            }
        }
        Label {
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            text: page.wizard ? qsTr("Free space: %1 — the job needs about %2").arg(page.wizard.freeText).arg(page.wizard.requiredText) : ""
            Accessible.name: text
        }
        Label {
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            font.bold: true
            text: !page.wizard ? "" : page.wizard.outputProblem.length > 0 ? "✗ " + page.wizard.outputProblem
                  : page.wizard.outputResumable ? qsTr("✓ This folder holds an unfinished job with these settings: it will resume.")
                  : qsTr("✓ Ready.")
            Accessible.name: text
        }
        MenuSeparator { Layout.fillWidth: true }
        CheckBox {
            text: page.wizard && page.wizard.measurementAvailable
                  ? qsTr("Reuse the measurement saved for this model (skips the measuring stage)")
                  : qsTr("Save the measurement for this model, to reuse next time")
            checked: page.wizard ? page.wizard.reuseMeasurement : true
            onClicked: page.wizard.reuseMeasurement = checked
            Accessible.name: text
        }
        Label {
            Layout.fillWidth: true
            elide: Text.ElideMiddle
            opacity: 0.7
            text: page.wizard ? page.wizard.measurementPath : ""
            Accessible.name: qsTr("Measurement file: %1").arg(text)
        }
    }

    FolderDialog {
        id: folderDialog
        title: qsTr("Choose the output folder")
        onAccepted: page.wizard.outputPath = selectedFolder.toString()
    }
}
